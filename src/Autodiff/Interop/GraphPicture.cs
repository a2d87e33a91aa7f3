using System.Text;
using Autodiff.Rewrite;

namespace Autodiff.Interop;

/// <summary>Graphs as pictures: Graphviz DOT and Mermaid flowchart text, to render with <c>dot -Tsvg</c> or any Mermaid
/// viewer. Each node is a box with its name (if it has one), its op with the attributes, and its type and shape; inputs
/// are ellipses (Mermaid: stadiums), the output has a double border (Mermaid: a subroutine box), fused nodes are filled
/// orange, and edges into ops whose operand order matters carry the operand's position. For a
/// <see cref="SimplifyResult"/> the document holds the graph before and after simplification side by side, with the
/// rewritten region marked: after-graph nodes that are not in the before graph (nodes are hash-consed, so a node that
/// survived is the same object) get a thick red border, before-graph nodes that the rewrite replaced a dashed grey one.
/// Output is deterministic: node ids follow the topological order (<c>b0</c>, <c>b1</c>, … before, <c>a0</c>, … after,
/// <c>n0</c>, … for a single graph), lines end with <c>\n</c>.</summary>
public static class GraphPicture
{
    private const string FusedFill = "#ffd8a8", InputFill = "#e7f5ff", ConstantFill = "#f1f3f5";
    private const string NewStroke = "#c92a2a", ReplacedStroke = "#868e96";

    /// <summary>One graph as a Graphviz digraph.</summary>
    public static string ToDot(Graph graph) => Dot([Panel.Of(graph, "n", null, null, _ => Mark.None)]);

    /// <summary>The graphs before and after simplification as two clusters of one Graphviz digraph.</summary>
    public static string ToDot(SimplifyResult result) => Dot(Panels(result));

    /// <summary>One graph as a Mermaid flowchart.</summary>
    public static string ToMermaid(Graph graph) => Mermaid([Panel.Of(graph, "n", null, null, _ => Mark.None)]);

    /// <summary>The graphs before and after simplification as two subgraphs of one Mermaid flowchart.</summary>
    public static string ToMermaid(SimplifyResult result) => Mermaid(Panels(result));

    private enum Kind { Input, Constant, Op }

    private enum Mark { None, New, Replaced }

    private sealed record Box(string Id, string[] Lines, Kind Kind, bool Fused, Mark Mark, bool Output);

    private sealed record Arrow(string From, string To, string? Label);

    /// <summary>One graph's boxes and arrows; drawn inside a cluster (subgraph) named <paramref name="Cluster"/> with the
    /// caption <paramref name="Title"/>, or at the top level when both are null.</summary>
    private sealed record Panel(string? Cluster, string? Title, List<Box> Boxes, List<Arrow> Arrows)
    {
        public static Panel Of(Graph g, string prefix, string? cluster, string? title, Func<Node, Mark> mark)
        {
            var order = Graph.TopologicalOrder([.. g.Inputs, g.Output]);
            var ids = new Dictionary<Node, string>(ReferenceEqualityComparer.Instance);
            var panel = new Panel(cluster, title, [], []);
            foreach (var n in order)
            {
                string id = prefix + ids.Count;
                ids[n] = id;
                var kind = n.Op switch { InputOp => Kind.Input, ConstantOp => Kind.Constant, _ => Kind.Op };
                panel.Boxes.Add(new Box(id, Label(n, g), kind, n.Op.IsFused, mark(n), n == g.Output));
                bool ordered = n.Inputs.Count > 1 && n.Op is not (AddOp or MulOp or MaximumOp or MinimumOp or LogAddExpOp);
                for (int i = 0; i < n.Inputs.Count; i++)
                    panel.Arrows.Add(new Arrow(ids[n.Inputs[i]], id, ordered ? (i + 1).ToString() : null));
            }
            return panel;
        }
    }

    private static Panel[] Panels(SimplifyResult r)
    {
        var before = new HashSet<Node>(Graph.TopologicalOrder([.. r.Before.Inputs, r.Before.Output]), ReferenceEqualityComparer.Instance);
        var after = new HashSet<Node>(Graph.TopologicalOrder([.. r.After.Inputs, r.After.Output]), ReferenceEqualityComparer.Instance);
        return
        [
            Panel.Of(r.Before, "b", "before", "before (as written)", n => after.Contains(n) ? Mark.None : Mark.Replaced),
            Panel.Of(r.After, "a", "after", "after (simplified)", n => before.Contains(n) ? Mark.None : Mark.New),
        ];
    }

    /// <summary>The text lines of a node: an input's name, type and facts; a constant's value; an op's name (as
    /// <c>name = op</c> when the node is named), its attributes, and its type.</summary>
    private static string[] Label(Node n, Graph g)
    {
        string type = n.DType.Name() + n.Shape;
        switch (n.Op)
        {
            case InputOp io:
                var facts = io.Facts.ToString();
                return facts.Length == 0 ? [io.InputName, type] : [io.InputName, type, facts];
            case ConstantOp c:
                return [Tensor.FormatNumber(c.Value, c.Type)];
        }
        var attributes = n.Op.Attributes(n).Select(a => a.Name is null ? a.Value : $"{a.Name}={a.Value}").ToArray();
        string op = attributes.Length == 0 ? n.Op.Name : $"{n.Op.Name}({string.Join(", ", attributes)})";
        return [g.Names.TryGetValue(n, out var name) ? $"{name} = {op}" : op, type];
    }

    private static string Dot(Panel[] panels)
    {
        var w = new StringBuilder();
        w.Append("digraph autodiff {\n");
        w.Append("  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\", fontsize=11];\n");
        w.Append("  edge [fontname=\"Helvetica\", fontsize=9, color=\"#495057\"];\n");
        foreach (var p in panels)
        {
            string indent = p.Title is null ? "  " : "    ";
            if (p.Title is not null)
                w.Append($"  subgraph cluster_{p.Cluster} {{\n    label=\"{DotEscape(p.Title)}\";\n    fontname=\"Helvetica\";\n    color=\"#ced4da\";\n");
            foreach (var b in p.Boxes) w.Append(indent).Append(b.Id).Append(" [").Append(DotAttributes(b)).Append("];\n");
            foreach (var a in p.Arrows)
                w.Append(indent).Append($"{a.From} -> {a.To}").Append(a.Label is null ? "" : $" [label=\"{a.Label}\"]").Append(";\n");
            if (p.Title is not null) w.Append("  }\n");
        }
        w.Append("}\n");
        return w.ToString();
    }

    private static string DotAttributes(Box b)
    {
        var attrs = new List<string> { $"label=\"{string.Join("\\n", b.Lines.Select(DotEscape))}\"" };
        if (b.Kind == Kind.Input) attrs.Add("shape=ellipse");
        string? fill = b.Fused ? FusedFill : b.Kind switch { Kind.Input => InputFill, Kind.Constant => ConstantFill, _ => null };
        if (fill is not null) attrs.Add($"fillcolor=\"{fill}\"");
        if (b.Mark == Mark.New) attrs.Add($"color=\"{NewStroke}\", penwidth=2.5");
        if (b.Mark == Mark.Replaced) attrs.Add($"color=\"{ReplacedStroke}\", style=\"rounded,filled,dashed\"");
        if (b.Output) attrs.Add("peripheries=2");
        return string.Join(", ", attrs);
    }

    private static string DotEscape(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"");

    private static string Mermaid(Panel[] panels)
    {
        var w = new StringBuilder();
        w.Append("flowchart TB\n");
        foreach (var p in panels)
        {
            string indent = p.Title is null ? "  " : "    ";
            if (p.Title is not null) w.Append($"  subgraph {p.Cluster}[\"{MermaidEscape(p.Title)}\"]\n    direction TB\n");
            foreach (var b in p.Boxes)
            {
                string text = string.Join("<br/>", b.Lines.Select(MermaidEscape));
                var (open, close) = b.Kind == Kind.Input ? ("([", "])") : b.Output ? ("[[", "]]") : ("[", "]");
                w.Append(indent).Append($"{b.Id}{open}\"{text}\"{close}\n");
            }
            foreach (var a in p.Arrows)
                w.Append(indent).Append(a.Label is null ? $"{a.From} --> {a.To}" : $"{a.From} -->|{a.Label}| {a.To}").Append('\n');
            if (p.Title is not null) w.Append("  end\n");
        }
        var boxes = panels.SelectMany(p => p.Boxes).ToArray();
        var classes = new (string Name, string Style, Func<Box, bool> Has)[]
        {
            ("input", $"fill:{InputFill}", b => b.Kind == Kind.Input),
            ("constant", $"fill:{ConstantFill}", b => b.Kind == Kind.Constant),
            ("fused", $"fill:{FusedFill}", b => b.Fused),
            ("rewritten", $"stroke:{NewStroke},stroke-width:3px", b => b.Mark == Mark.New),
            ("replaced", $"stroke:{ReplacedStroke},stroke-dasharray:5 3", b => b.Mark == Mark.Replaced),
        };
        foreach (var (name, style, has) in classes)
        {
            var ids = boxes.Where(has).Select(b => b.Id).ToArray();
            if (ids.Length == 0) continue;
            w.Append($"  classDef {name} {style}\n");
            w.Append($"  class {string.Join(",", ids)} {name}\n");
        }
        return w.ToString();
    }

    private static string MermaidEscape(string s) =>
        s.Replace("&", "#amp;").Replace("\"", "#quot;").Replace("<", "#lt;").Replace(">", "#gt;");
}
