namespace Autodiff.Text;

/// <summary>Where each node of a parsed program was written: the 1-based line and column of the operator or function
/// name that built it (the first place, when hash-consing makes two expressions one node). Inputs are at their
/// declaration.</summary>
public sealed class SourceMap
{
    private readonly Dictionary<Node, (int Line, int Column)> _at = new(ReferenceEqualityComparer.Instance);

    internal void Record(Node node, int line, int column) => _at.TryAdd(node, (line, column));

    /// <summary>The position of <paramref name="node"/>, or null for a node the program did not write.</summary>
    public (int Line, int Column)? this[Node node] => _at.TryGetValue(node, out var p) ? p : null;
}
