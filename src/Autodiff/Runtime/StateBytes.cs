using System.Collections;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace Autodiff;

/// <summary>The bytes of the arrays an op's state object keeps between passes (<see cref="Op.CreateState"/>), found by
/// walking its fields (and the fields of the library's own objects it holds): arrays by their element size, tensors by
/// their data, collections element by element. One place that counts every op's state, so no op has to report its own.</summary>
internal static class StateBytes
{
    public static long Of(object? state) => state is null ? 0 : Walk(state, new HashSet<object>(ReferenceEqualityComparer.Instance), 0);

    private static long Walk(object o, HashSet<object> seen, int depth)
    {
        if (depth > 6 || !seen.Add(o)) return 0;
        switch (o)
        {
            case Tensor t:
                return Walk(t.Data, seen, depth + 1);
            case Array a:
            {
                var element = a.GetType().GetElementType()!;
                long bytes = a.LongLength * ElementSize(element);
                if (!element.IsValueType)
                    foreach (var item in a)
                        if (item is not null) bytes += Walk(item, seen, depth + 1);
                return bytes;
            }
            case IEnumerable e when o.GetType().Assembly != typeof(StateBytes).Assembly && o is not string:
            {
                long bytes = 0;
                foreach (var item in e)
                    if (item is not null) bytes += item.GetType().IsValueType ? ElementSize(item.GetType()) : Walk(item, seen, depth + 1);
                return bytes;
            }
        }

        var type = o.GetType();
        if (type.Assembly != typeof(StateBytes).Assembly) return 0;
        long total = 0;
        for (var t = type; t is not null && t != typeof(object); t = t.BaseType)
            foreach (var f in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                if (!f.FieldType.IsValueType && f.GetValue(o) is { } v && v is not Node && v is not Op)
                    total += Walk(v, seen, depth + 1);
        return total;
    }

    private static long ElementSize(Type element) =>
        !element.IsValueType ? IntPtr.Size
        : (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(element).Invoke(null, null)!;
}
