namespace Autodiff.Text;

/// <summary>Prints graphs in the expression language (placeholder until the full printer lands).</summary>
public static class Printer
{
    /// <summary>Prints a graph.</summary>
    public static string Print(Graph graph) => graph.Output.ToString();
}
