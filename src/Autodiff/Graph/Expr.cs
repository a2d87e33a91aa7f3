namespace Autodiff;

/// <summary>A handle on a graph node with C# operators and methods that build new nodes.
/// Scalars combined with an expression become constants of the expression's element type.
/// The op-specific builder methods live next to each op (this struct is partial).</summary>
public readonly partial struct Expr : IEquatable<Expr>
{
    /// <summary>Wraps a node.</summary>
    public Expr(Node node) => Node = node ?? throw new ArgumentNullException(nameof(node));

    /// <summary>The node.</summary>
    public Node Node { get; }

    /// <summary>The builder that owns the node.</summary>
    public GraphBuilder Builder => Node.Builder;

    /// <summary>The static shape.</summary>
    public Shape Shape => Node.Shape;

    /// <summary>The element type.</summary>
    public DType DType => Node.DType;

    /// <summary>Applies <paramref name="op"/> to this expression and <paramref name="others"/>.</summary>
    public Expr Apply(Op op, params Expr[] others) =>
        Builder.Make(op, [Node, .. others.Select(o => o.Node)]).Expr;

    /// <summary>A scalar constant of this expression's element type (float for integer expressions).</summary>
    public Expr Const(double value) => Builder.Constant(value, DType.IsFloat() ? DType : DType.F32);

    /// <summary>Wraps a graph as its output expression.</summary>
    public static implicit operator Expr(Node node) => new(node);

    /// <summary>Elementwise sum with broadcasting.</summary>
    public static Expr operator +(Expr a, Expr b) => a.Apply(new AddOp(), b);
    /// <summary>Elementwise difference with broadcasting.</summary>
    public static Expr operator -(Expr a, Expr b) => a.Apply(new SubOp(), b);
    /// <summary>Elementwise product with broadcasting.</summary>
    public static Expr operator *(Expr a, Expr b) => a.Apply(new MulOp(), b);
    /// <summary>Elementwise quotient with broadcasting.</summary>
    public static Expr operator /(Expr a, Expr b) => a.Apply(new DivOp(), b);
    /// <summary>Negation.</summary>
    public static Expr operator -(Expr a) => a.Apply(new NegOp());

    /// <summary>Adds a scalar constant.</summary>
    public static Expr operator +(Expr a, double b) => a + a.Const(b);
    /// <summary>Adds a scalar constant.</summary>
    public static Expr operator +(double a, Expr b) => b.Const(a) + b;
    /// <summary>Subtracts a scalar constant.</summary>
    public static Expr operator -(Expr a, double b) => a - a.Const(b);
    /// <summary>Subtracts from a scalar constant.</summary>
    public static Expr operator -(double a, Expr b) => b.Const(a) - b;
    /// <summary>Multiplies by a scalar constant.</summary>
    public static Expr operator *(Expr a, double b) => a * a.Const(b);
    /// <summary>Multiplies by a scalar constant.</summary>
    public static Expr operator *(double a, Expr b) => b.Const(a) * b;
    /// <summary>Divides by a scalar constant.</summary>
    public static Expr operator /(Expr a, double b) => a / a.Const(b);
    /// <summary>Divides a scalar constant.</summary>
    public static Expr operator /(double a, Expr b) => b.Const(a) / b;

    /// <inheritdoc/>
    public bool Equals(Expr other) => ReferenceEquals(Node, other.Node);
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Expr e && Equals(e);
    /// <inheritdoc/>
    public override int GetHashCode() => Node.Id;
    /// <summary>Same node.</summary>
    public static bool operator ==(Expr a, Expr b) => a.Equals(b);
    /// <summary>Different nodes.</summary>
    public static bool operator !=(Expr a, Expr b) => !a.Equals(b);

    /// <summary>The expression in the expression language, inputs by name, e.g. <c>exp(z) / sum(exp(z), axis=1, keepdims=true)</c>
    /// (shared subexpressions of a large graph are named on lines before it; see
    /// <see cref="Text.Printer.PrintExpression"/>). <see cref="Node"/>'s <c>ToString</c> gives the op, type and shape.</summary>
    public override string ToString() => Text.Printer.PrintExpression(Node);
}
