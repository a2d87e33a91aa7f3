using System.Globalization;

namespace Autodiff;

/// <summary>How many bytes of tensors a <see cref="Tape"/> may allocate. A tape adds up every buffer it needs (a value per
/// node, a gradient per node on a differentiated path) before allocating any, and refuses a graph that would not fit with a
/// <see cref="MemoryBudgetException"/> naming the largest node, instead of failing half-way with an
/// <see cref="OutOfMemoryException"/>. Sizes beyond .NET's array limit (<see cref="Array.MaxLength"/> elements) are refused
/// earlier, by <see cref="Shape"/>.</summary>
public static class MemoryBudget
{
    private static readonly long Process = FromProcess();
    private static readonly AsyncLocal<long?> Scoped = new();

    /// <summary>The budget of tapes built without an explicit one: the innermost <see cref="Limit"/> of this flow of
    /// execution, else <see cref="FromProcess"/> (measured once).</summary>
    public static long Default => Scoped.Value ?? Process;

    /// <summary>Makes <paramref name="bytes"/> the <see cref="Default"/> in this flow of execution (this thread and the
    /// tasks it starts) until the result is disposed; other threads keep theirs. The CLI's <c>--max-memory</c>.</summary>
    public static IDisposable Limit(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        var previous = Scoped.Value;
        Scoped.Value = bytes;
        return new Restore(previous);
    }

    private sealed class Restore(long? previous) : IDisposable
    {
        public void Dispose() => Scoped.Value = previous;
    }

    /// <summary>Nine tenths of the memory this process may use, <see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>: the
    /// machine's memory, or the container's limit, or the heap's hard limit (<c>DOTNET_GCHeapHardLimit</c>) when one is set.</summary>
    public static long FromProcess() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 10 * 9;

    /// <summary>The bytes of a tensor of this shape and element type.</summary>
    public static long Bytes(Shape shape, DType dtype) => (long)shape.Size * dtype.ByteSize();

    /// <summary>Throws a <see cref="MemoryBudgetException"/> unless one tensor for each of <paramref name="buffers"/> (a
    /// node listed twice needs two) fits in <paramref name="budget"/> bytes: first for a node whose tensor alone does not
    /// fit, then for the sum (naming the largest). Positions come from <paramref name="graph"/>.</summary>
    public static void Require(Graph graph, IEnumerable<Node> buffers, long budget)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(buffers);
        long total = 0, largest = -1;
        Node? big = null;
        foreach (var n in buffers)
        {
            long b = Bytes(n.Shape, n.DType);
            if (b > budget) throw new MemoryBudgetException(n, b, budget, total: false, Position(graph, n));
            total += b;
            if (b > largest) { largest = b; big = n; }
        }
        if (total > budget) throw new MemoryBudgetException(big!, total, budget, total: true, Position(graph, big!));
    }

    private static (int Line, int Column)? Position(Graph graph, Node n) => graph.Builder.PositionOf(n) is { } p ? (p.Line, p.Column) : null;

    /// <summary>Bytes for people, in decimal units: <c>512 B</c>, <c>3.2 MB</c>, <c>8.6 GB</c>.</summary>
    public static string Format(long bytes)
    {
        string[] units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
        double v = bytes;
        int u = 0;
        while (v >= 1000 && u < units.Length - 1) { v /= 1000; u++; }
        return u == 0 ? $"{bytes} B" : (v < 10 ? v.ToString("0.0", CultureInfo.InvariantCulture) : v.ToString("0", CultureInfo.InvariantCulture)) + " " + units[u];
    }

    /// <summary>Parses a size such as <c>2G</c>, <c>512MB</c>, <c>1.5GiB</c> or a number of bytes; null if it is not one.
    /// k, M, G, T are powers of 1000 and Ki, Mi, Gi, Ti powers of 1024; a trailing B is optional.</summary>
    public static long? Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = text.Trim();
        if (s.EndsWith('B') || s.EndsWith('b')) s = s[..^1];
        long unit = 1;
        foreach (var (suffix, factor) in new (string, long)[]
                 {
                     ("Ki", 1L << 10), ("Mi", 1L << 20), ("Gi", 1L << 30), ("Ti", 1L << 40),
                     ("k", 1000L), ("K", 1000L), ("M", 1_000_000L), ("G", 1_000_000_000L), ("T", 1_000_000_000_000L),
                 })
            if (s.EndsWith(suffix, StringComparison.Ordinal))
            {
                unit = factor;
                s = s[..^suffix.Length];
                break;
            }
        if (!double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v) || v <= 0)
            return null;
        double bytes = v * unit;
        return bytes >= long.MaxValue ? long.MaxValue : Math.Max(1, (long)bytes);
    }
}

/// <summary>A graph needs more memory than a tape's <see cref="MemoryBudget"/> allows; nothing was allocated.</summary>
public sealed class MemoryBudgetException : AutodiffException
{
    /// <summary>Creates the exception for <paramref name="node"/> (the largest buffer), needing <paramref name="bytes"/>
    /// (that node's, or the whole tape's when <paramref name="total"/>), against <paramref name="budget"/>.</summary>
    public MemoryBudgetException(Node node, long bytes, long budget, bool total, (int Line, int Column)? position)
        : base(Describe(node, bytes, budget, total, position, "the tape's memory budget is {0} (MemoryBudget.Default)"))
    {
        Node = node;
        Bytes = bytes;
        Budget = budget;
        Total = total;
        Position = position;
    }

    /// <summary>The node named: the one that alone exceeds the budget, or the largest buffer when only the sum does.</summary>
    public Node Node { get; }

    /// <summary>The bytes needed: the node's, or the whole tape's when <see cref="Total"/>.</summary>
    public long Bytes { get; }

    /// <summary>The budget exceeded.</summary>
    public long Budget { get; }

    /// <summary>True when no single buffer exceeds the budget but their sum does.</summary>
    public bool Total { get; }

    /// <summary>Where the program text built the node (1-based line and column), when it came from the parser.</summary>
    public (int Line, int Column)? Position { get; }

    /// <summary>The message with the budget clause written by <paramref name="budgetClause"/> (a format with the budget as
    /// {0}), and no position prefix: e.g. <c>broadcast_to needs 8.6 GB for f32[46340, 46340]; this process may use 1.9 GB</c>.</summary>
    public string Reason(string budgetClause) => Describe(Node, Bytes, Budget, Total, null, budgetClause);

    private static string Describe(Node node, long bytes, long budget, bool total, (int Line, int Column)? position, string budgetClause)
    {
        string at = position is var (l, c) ? $"{l}:{c}: " : "";
        string what = $"{(node.Op is InputOp io ? $"input '{io.InputName}'" : node.Op.Name)} needs {MemoryBudget.Format(MemoryBudget.Bytes(node.Shape, node.DType))} for {node.DType.Name()}{node.Shape}";
        string clause = string.Format(CultureInfo.InvariantCulture, budgetClause, MemoryBudget.Format(budget));
        return total
            ? $"{at}the graph's buffers need {MemoryBudget.Format(bytes)} in all (the largest: {what}); {clause}"
            : $"{at}{what}; {clause}";
    }
}
