using Autodiff.Text;

namespace Autodiff.Tests.Text;

/// <summary>Structural comparison of graphs built in different builders.</summary>
internal static class TextAssert
{
    /// <summary>Same inputs, same nodes in the same topological order with equal ops, operands, shapes and element
    /// types, and every name of the expected graph.</summary>
    public static void SameStructure(Graph expected, Graph actual)
    {
        var a = expected.Nodes();
        var b = actual.Nodes();
        Assert.Equal(a.Count, b.Count);
        Assert.Equal(expected.Inputs.Count, actual.Inputs.Count);
        for (int i = 0; i < expected.Inputs.Count; i++) Assert.Equal(expected.Inputs[i].Op, actual.Inputs[i].Op);
        var ia = Index(a);
        var ib = Index(b);
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i].Op, b[i].Op);
            Assert.Equal(a[i].Shape, b[i].Shape);
            Assert.Equal(a[i].DType, b[i].DType);
            Assert.Equal(a[i].Inputs.Select(n => ia[n]), b[i].Inputs.Select(n => ib[n]));
            // Names are kept; the printer may name more nodes (shared ones, the output, long chains).
            if (expected.Names.TryGetValue(a[i], out var name)) Assert.Equal(name, actual.Names.GetValueOrDefault(b[i]));
        }
    }

    private static Dictionary<Node, int> Index(List<Node> order)
    {
        var d = new Dictionary<Node, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < order.Count; i++) d[order[i]] = i;
        return d;
    }

    /// <summary>Print(Parse(Print(g))) == Print(g) and the reparsed graph has the same structure.</summary>
    public static string RoundTrips(Graph g)
    {
        var text = Printer.Print(g);
        var again = Parser.Parse(text);
        Assert.Equal(text, Printer.Print(again));
        SameStructure(g, again);
        return text;
    }
}
