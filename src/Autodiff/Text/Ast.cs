namespace Autodiff.Text;

/// <summary>A syntax tree node of an expression, with scratch fields the evaluator fills in.</summary>
internal abstract class Ast(int line, int col)
{
    public int Line { get; } = line;
    public int Col { get; } = col;

    /// <summary>Written inside parentheses (so a unary minus in front does not fold into a literal).</summary>
    public bool Parens { get; set; }

    /// <summary>Evaluator: the subtree is built only from number literals, so it takes its float type from its context.</summary>
    public bool Weak;

    /// <summary>Evaluator: the built node.</summary>
    public Expr? Value;

    /// <summary>The tensor operands (children the evaluator builds first).</summary>
    public virtual Ast[] Operands => [];

    /// <summary>How the value is named after "found" in messages.</summary>
    public abstract string Describe();
}

internal sealed class NumAst(int line, int col, double value, bool isInt, bool folded, string text) : Ast(line, col)
{
    public double Number { get; } = value;
    /// <summary>The literal as written (with a folded minus), for messages.</summary>
    public string Text { get; } = text;
    public bool IsInt { get; } = isInt;
    /// <summary>A unary minus was folded into this literal.</summary>
    public bool Folded { get; } = folded;
    public override string Describe() => $"'{Text}'";
}

internal sealed class NameAst(int line, int col, string name) : Ast(line, col)
{
    public string Name { get; } = name;
    public override string Describe() => $"'{Name}'";
}

internal sealed class BoolAst(int line, int col, bool value) : Ast(line, col)
{
    public bool Flag { get; } = value;
    public override string Describe() => Flag ? "'true'" : "'false'";
}

internal sealed class TupleAst(int line, int col, List<Ast> items) : Ast(line, col)
{
    public List<Ast> Items { get; } = items;
    public override string Describe() => "a tuple";
}

internal sealed class NegAst(int line, int col, Ast operand) : Ast(line, col)
{
    public Ast Operand { get; } = operand;
    public override Ast[] Operands { get; } = [operand];
    public override string Describe() => "an expression";
}

internal sealed class BinAst(int line, int col, char op, Ast left, Ast right) : Ast(line, col)
{
    public char Op { get; } = op;
    public Ast Left { get; } = left;
    public Ast Right { get; } = right;
    public override Ast[] Operands { get; } = [left, right];
    public override string Describe() => "an expression";

    public string OpName => Op switch { '+' => "add", '-' => "sub", '*' => "mul", '/' => "div", '@' => "matmul", _ => "pow" };
}

/// <summary>A call with its arguments bound to the function's parameters (null where not given).</summary>
internal sealed class CallAst(int line, int col, FunctionSpec spec, Ast?[] args) : Ast(line, col)
{
    public FunctionSpec Spec { get; } = spec;
    public Ast?[] Args { get; } = args;

    public override Ast[] Operands { get; } =
        args.Where((a, i) => a is not null && spec.Parameters[i].Kind == ArgKind.Tensor).Select(a => a!).ToArray();

    public override string Describe() => "an expression";
}

internal abstract record Statement(int Line, int Col);

internal sealed record InputStatement(int Line, int Col, string Name, DType Type, int[] Dims, InputFacts Facts) : Statement(Line, Col);

internal sealed record AssignStatement(int Line, int Col, string Name, Ast Expr) : Statement(Line, Col);

internal sealed record OutputStatement(int Line, int Col, List<(string Name, int Line, int Col)> Names) : Statement(Line, Col);
