namespace Autodiff;

/// <summary>An immutable, hash-consed node of a computation graph: an op applied to input nodes.
/// Building the same op on the same inputs in the same <see cref="GraphBuilder"/> returns the same node,
/// so nodes compare by reference.</summary>
public sealed class Node
{
    private readonly Node[] _inputs;

    internal Node(GraphBuilder builder, Op op, Node[] inputs, Shape shape, DType dtype, int id)
    {
        Builder = builder;
        Op = op;
        _inputs = inputs;
        Shape = shape;
        DType = dtype;
        Id = id;
    }

    /// <summary>The builder that interned this node; new nodes built from it land in the same builder.</summary>
    public GraphBuilder Builder { get; }

    /// <summary>The op, with its attributes.</summary>
    public Op Op { get; }

    /// <summary>The operand nodes.</summary>
    public IReadOnlyList<Node> Inputs => _inputs;

    /// <summary>The static shape of the node's value.</summary>
    public Shape Shape { get; }

    /// <summary>The element type of the node's value.</summary>
    public DType DType { get; }

    /// <summary>Creation order within the builder; unique and stable, used for deterministic ordering.</summary>
    public int Id { get; }

    /// <summary>This node as an <see cref="Expr"/> handle.</summary>
    public Expr Expr => new(this);

    /// <summary>A short description for messages: the op name with the type and shape, e.g. <c>exp: f32[64, 10]</c>.</summary>
    public override string ToString() => $"{Op.Name}: {DType.Name()}{Shape}";
}
