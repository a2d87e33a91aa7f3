using System.Globalization;
using Autodiff.Text;

namespace Autodiff.Rewrite;

/// <summary>A pattern tree: one side of a rule written in the expression language, read by the language's own parser.
/// An identifier in an operand position is a node variable; an identifier in an attribute position (<c>axis=a</c>) is an
/// attribute variable; a number literal matches a scalar constant of that value.</summary>
internal abstract record Pat(int Col);

/// <summary>A node variable: binds any node; a second occurrence must be the same node.</summary>
internal sealed record VarPat(int Col, string Name, int Slot) : Pat(Col);

/// <summary>A number literal: matches a scalar constant of exactly this value; on a right side, a constant of the
/// matched root's float type.</summary>
internal sealed record ConstPat(int Col, double Value) : Pat(Col);

/// <summary>A call of a language function: matches a node whose op has that name, whose operands match
/// <see cref="Args"/>' tensor entries and whose attributes match the others.</summary>
/// <param name="Col">The column of the call in the rule's line.</param>
/// <param name="Spec">The function.</param>
/// <param name="Args">One entry per parameter: a <see cref="Pat"/> for a tensor operand, an <see cref="AttrPat"/> for an
/// attribute, null where the call leaves the parameter out (on a left side: the node must leave it out, or have its
/// default).</param>
internal sealed record CallPat(int Col, FunctionSpec Spec, object?[] Args) : Pat(Col)
{
    /// <summary>The parameter indices of the tensor operands, in operand order.</summary>
    public int[] TensorParams { get; } = Enumerable.Range(0, Spec.Parameters.Count).Where(i => Spec.Parameters[i].Kind == ArgKind.Tensor).ToArray();

    /// <summary>True for an op whose two operands may be swapped (<c>+</c>, <c>*</c>, maximum, minimum, logaddexp).</summary>
    public bool Commutative { get; } = Spec.Name is "add" or "mul" or "maximum" or "minimum" or "logaddexp";
}

/// <summary>An attribute in a pattern: a variable, or a literal kept as the text the printer writes for it.</summary>
internal abstract record AttrPat(int Col);

/// <summary>An attribute variable (<c>axis=a</c>).</summary>
internal sealed record AttrVar(int Col, string Name, int Slot) : AttrPat(Col);

/// <summary>An attribute literal (<c>keepdims=true</c>, <c>axis=(0, 1)</c>, <c>dtype=f64</c>), as printed text.</summary>
internal sealed record AttrLit(int Col, string Text, object Value) : AttrPat(Col);

/// <summary>Reads pattern trees from the parser's syntax trees, and the attributes of a node as the printer writes them.</summary>
internal static class Patterns
{
    /// <summary>Converts a parsed expression into a pattern. Variables get slots in <paramref name="nodeVars"/> and
    /// <paramref name="attrVars"/> (shared by both sides of a rule); <paramref name="define"/> is false on a right side,
    /// where every variable must already be bound by the left side.</summary>
    public static Pat FromAst(Ast ast, Dictionary<string, int> nodeVars, Dictionary<string, int> attrVars, bool define)
    {
        switch (ast)
        {
            case NumAst n:
                return new ConstPat(ast.Col, n.Number);
            case NameAst v:
                if (attrVars.ContainsKey(v.Name)) throw Error(ast, $"'{v.Name}' is an attribute variable, used here as an operand");
                return new VarPat(ast.Col, v.Name, Slot(nodeVars, v.Name, ast, define));
            case NegAst g:
                return Call(ast, "neg", [FromAst(g.Operand, nodeVars, attrVars, define)]);
            case BinAst b:
                return Call(ast, b.OpName, [FromAst(b.Left, nodeVars, attrVars, define), FromAst(b.Right, nodeVars, attrVars, define)]);
            case CallAst c:
            {
                var args = new object?[c.Args.Length];
                for (int i = 0; i < args.Length; i++)
                {
                    var a = c.Args[i];
                    if (a is null) continue;
                    var p = c.Spec.Parameters[i];
                    args[i] = p.Kind == ArgKind.Tensor ? FromAst(a, nodeVars, attrVars, define) : Attribute(a, p, c.Spec, nodeVars, attrVars, define);
                }
                return new CallPat(ast.Col, c.Spec, args);
            }
            default:
                throw Error(ast, $"expected an expression, found {ast.Describe()}");
        }
    }

    private static CallPat Call(Ast at, string name, Pat[] operands)
    {
        Functions.TryGet(name, out var spec);
        return new CallPat(at.Col, spec!, operands.Cast<object?>().ToArray());
    }

    private static int Slot(Dictionary<string, int> vars, string name, Ast at, bool define)
    {
        if (vars.TryGetValue(name, out int slot)) return slot;
        if (!define) throw Error(at, $"'{name}' is not bound by the left side");
        vars[name] = vars.Count;
        return vars[name];
    }

    private static AttrPat Attribute(Ast a, FunctionParam p, FunctionSpec spec, Dictionary<string, int> nodeVars, Dictionary<string, int> attrVars, bool define)
    {
        if (a is NameAst v && !(p.Kind == ArgKind.DType && v.Name is "f32" or "f64" or "i64"))
        {
            if (nodeVars.ContainsKey(v.Name)) throw Error(a, $"'{v.Name}' is an operand variable, used here as the attribute '{p.Name}' of '{spec.Name}'");
            return new AttrVar(a.Col, v.Name, Slot(attrVars, v.Name, a, define));
        }
        object value = p.Kind switch
        {
            ArgKind.Int when a is NumAst n && n.Number == Math.Round(n.Number) => (int)n.Number,
            ArgKind.Ints when a is NumAst n && n.Number == Math.Round(n.Number) => new[] { (int)n.Number },
            ArgKind.Ints when a is TupleAst t && t.Items.All(i => i is NumAst m && m.Number == Math.Round(m.Number)) => t.Items.Select(i => (int)((NumAst)i).Number).ToArray(),
            ArgKind.Bool when a is BoolAst b => b.Flag,
            ArgKind.Number when a is NumAst n => n.Number,
            ArgKind.DType when a is NameAst d => d.Name switch { "f32" => DType.F32, "f64" => DType.F64, _ => DType.I64 },
            _ => throw Error(a, $"argument '{p.Name}' of '{spec.Name}' must be a variable or a {p.Kind.ToString().ToLowerInvariant()} literal, found {a.Describe()}"),
        };
        return new AttrLit(a.Col, Text(value), value);
    }

    /// <summary>An attribute value as the printer writes it.</summary>
    public static string Text(object value) => value switch
    {
        int i => i.ToString(CultureInfo.InvariantCulture),
        int[] a => new IntList(a).ToString(),
        bool b => b ? "true" : "false",
        double d => Tensor.FormatNumber(d, DType.F64),
        DType t => t.Name(),
        _ => value.ToString() ?? "",
    };

    /// <summary>The value a builder expects for a parameter of <paramref name="kind"/>, from the printed text.</summary>
    public static object Value(string text, ArgKind kind) => kind switch
    {
        ArgKind.Int => int.Parse(text, CultureInfo.InvariantCulture),
        ArgKind.Ints => text == "()" ? Array.Empty<int>() : text.Trim('(', ')').Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray(),
        ArgKind.Bool => text == "true",
        ArgKind.Number => text switch
        {
            "inf" => double.PositiveInfinity,
            "-inf" => double.NegativeInfinity,
            "nan" => double.NaN,
            _ => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
        },
        ArgKind.DType => text switch { "f32" => DType.F32, "f64" => DType.F64, _ => DType.I64 },
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The attributes of <paramref name="n"/> as printed text, one entry per parameter of <paramref name="spec"/>
    /// (null where the printer leaves it out; a left-out boolean reads as <c>false</c>); null if the op prints an
    /// attribute the function does not take.</summary>
    public static string?[]? Attributes(Node n, FunctionSpec spec)
    {
        var ps = spec.Parameters;
        var values = new string?[ps.Count];
        int next = 0;
        foreach (var (name, text) in n.Op.Attributes(n))
        {
            int i;
            if (name is null)
            {
                while (next < ps.Count && ps[next].Kind == ArgKind.Tensor) next++;
                i = next++;
            }
            else i = spec.IndexOf(name);
            if (i < 0 || i >= ps.Count || ps[i].Kind == ArgKind.Tensor) return null;
            values[i] = text;
        }
        for (int i = 0; i < ps.Count; i++)
            if (values[i] is null && ps[i].Kind == ArgKind.Bool) values[i] = "false";
        return values;
    }

    /// <summary>The printed text of a literal compared with a node's: negative axes count from the end of the first
    /// operand's rank, and a left-out boolean is false.</summary>
    public static bool Same(AttrLit lit, string? nodeText, FunctionParam p, Node n)
    {
        if (nodeText is null) return false;
        if (lit.Text == nodeText) return true;
        if (p.Name.StartsWith("axis", StringComparison.Ordinal) && n.Inputs.Count > 0 && lit.Value is int or int[])
        {
            int rank = n.Inputs[0].Shape.Rank;
            int[] axes = lit.Value is int i ? [i] : (int[])lit.Value;
            return Text(axes.Select(a => a < 0 ? a + rank : a).ToArray()) == nodeText;
        }
        return false;
    }

    private static ParseException Error(Ast at, string message) => new(at.Line, at.Col, message);
}
