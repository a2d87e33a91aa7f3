using System.Reflection;
using Autodiff.Text;

namespace Autodiff;

/// <summary>The registration point of an op type, beside its shape rule, kernels and gradient: the functions of the
/// expression language that build it (name, operands, attributes; see <see cref="FunctionSpec"/>). The function table
/// (<see cref="Functions"/>) is generated from every op type of the library that implements this interface. The op's
/// ONNX lowering is its override of <see cref="Op.ToOnnx"/>, or a <see cref="NotExportableAttribute"/> on the type.</summary>
internal interface IOpFunctions
{
    /// <summary>The functions that build this op type: usually one, named like the op; none for an op that another
    /// op type's function builds (say so beside it); several for aliases and for variants printed under other names.</summary>
    static abstract IEnumerable<FunctionSpec> Functions { get; }
}

/// <summary>Declares that an op type has no ONNX lowering, and why (the export's error quotes the reason).</summary>
/// <param name="reason">Why ONNX cannot express the op, e.g. "no ONNX operator samples noise from a seed".</param>
[AttributeUsage(AttributeTargets.Class, Inherited = true)]
internal sealed class NotExportableAttribute(string reason) : Attribute
{
    /// <summary>Why the op has no ONNX lowering.</summary>
    public string Reason { get; } = reason;
}

/// <summary>The op types of the library, found by reflection, and what each registers.</summary>
internal static class OpRegistry
{
    /// <summary>Every concrete <see cref="Op"/> type of the library.</summary>
    public static IReadOnlyList<Type> OpTypes { get; } = typeof(Op).Assembly.GetTypes()
        .Where(t => t.IsSubclassOf(typeof(Op)) && !t.IsAbstract)
        .OrderBy(t => t.FullName, StringComparer.Ordinal).ToArray();

    /// <summary>The functions op type <paramref name="t"/> declares, or null if it implements no <see cref="IOpFunctions"/>.</summary>
    public static IEnumerable<FunctionSpec>? FunctionsOf(Type t) =>
        typeof(IOpFunctions).IsAssignableFrom(t)
            ? (IEnumerable<FunctionSpec>)typeof(OpRegistry).GetMethod(nameof(Declared), BindingFlags.NonPublic | BindingFlags.Static)!
                .MakeGenericMethod(t).Invoke(null, null)!
            : null;

    private static IEnumerable<FunctionSpec> Declared<T>() where T : IOpFunctions => T.Functions;

    /// <summary>The functions of every op type, in type order.</summary>
    public static IEnumerable<FunctionSpec> AllFunctions() => OpTypes.SelectMany(t => FunctionsOf(t) ?? []);

    /// <summary>True if op type <paramref name="t"/> lowers to ONNX (it or a base other than <see cref="Op"/> overrides
    /// <see cref="Op.ToOnnx"/>).</summary>
    public static bool HasOnnxLowering(Type t) =>
        t.GetMethod(nameof(Op.ToOnnx), BindingFlags.NonPublic | BindingFlags.Instance)!.DeclaringType != typeof(Op);

    /// <summary>The reason op type <paramref name="t"/> declares for having no ONNX lowering, or null.</summary>
    public static string? NotExportableReason(Type t) => t.GetCustomAttribute<NotExportableAttribute>()?.Reason;
}
