namespace Autodiff.Interop;

/// <summary>One attribute of an ONNX node, with no protobuf type: an integer, a list of integers or a string.</summary>
internal sealed record OnnxAttribute(string Name, long? Int = null, IReadOnlyList<long>? Ints = null, string? String = null)
{
    /// <summary>An integer attribute.</summary>
    public static OnnxAttribute Of(string name, long value) => new(name, Int: value);

    /// <summary>A list-of-integers attribute.</summary>
    public static OnnxAttribute Of(string name, IEnumerable<int> values) => new(name, Ints: values.Select(v => (long)v).ToArray());

    /// <summary>A string attribute.</summary>
    public static OnnxAttribute Of(string name, string value) => new(name, String: value);
}

/// <summary>One ONNX node: its operator type in the default domain, its input and output value names, its attributes.</summary>
internal sealed record OnnxNode(string OpType, IReadOnlyList<string> Inputs, string Output, IReadOnlyList<OnnxAttribute> Attributes);

/// <summary>A constant tensor of the model: floats (<see cref="DType.F32"/>, <see cref="DType.F64"/>) or i64 values.</summary>
internal sealed record OnnxInitializer(string Name, DType Type, IReadOnlyList<double> Values, IReadOnlyList<int> Dims);

/// <summary>What an op's <see cref="Op.ToOnnx"/> writes into: ONNX nodes and initializers in a protobuf-free form (node
/// types, attributes, decompositions), which the Autodiff.Onnx package serializes (its <c>OnnxGraphWriter</c>). Value names: the node being lowered
/// writes its result to the name it is given; the extra values of a decomposition are named after that result
/// (<c>loss.LogSoftmax</c>, <c>loss.LogSoftmax_1</c>, …).</summary>
internal sealed class OnnxLowering
{
    /// <summary>The version of the default ONNX operator set the lowerings are written in (the Autodiff.Onnx package
    /// publishes it as <c>OnnxExporter.Opset</c>).</summary>
    public const int Opset = 18;

    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private string _stem = "";

    /// <summary>The nodes, in the order written (each after the values it reads).</summary>
    public List<OnnxNode> Nodes { get; } = [];

    /// <summary>The constants.</summary>
    public List<OnnxInitializer> Initializers { get; } = [];

    /// <summary>Reserves <paramref name="name"/> (a graph input's or a user's); false if it was taken.</summary>
    public bool Reserve(string name) => _used.Add(name);

    /// <summary>A name not used yet: <paramref name="stem"/>, or <c>stem_1</c>, <c>stem_2</c>, …, counting on from the last
    /// suffix this stem took (one counter per stem, so naming n nodes of one op is linear, not n²/2 probes).</summary>
    public string Fresh(string stem)
    {
        if (_used.Add(stem)) return stem;
        int k = _next.GetValueOrDefault(stem, 1);
        string name;
        do name = $"{stem}_{k++}"; while (!_used.Add(name));
        _next[stem] = k;
        return name;
    }

    private readonly Dictionary<string, int> _next = new(StringComparer.Ordinal);

    /// <summary>Lowers node <paramref name="n"/> (operand values <paramref name="x"/>) to <paramref name="y"/>.</summary>
    public string Lower(Node n, string[] x, string y)
    {
        _stem = y;
        return n.Op.ToOnnx(this, n, x, y);
    }

    /// <summary>The error for an op ONNX cannot express, naming it (and the element type when that is the reason).</summary>
    public static AutodiffException NotExportable(Op op, string? reason = null) =>
        new($"onnx export: op '{op.Name}' has no ONNX mapping" + (reason is null ? "" : $" ({reason})"));

    /// <summary>Adds a node; its output is <paramref name="output"/>, or a fresh name after the node being lowered.</summary>
    public string Emit(string opType, IEnumerable<string> inputs, string? output = null, params OnnxAttribute[] attributes)
    {
        output ??= Fresh($"{_stem}.{opType}");
        Nodes.Add(new OnnxNode(opType, inputs.ToArray(), output, attributes));
        return output;
    }

    /// <summary>A scalar initializer of element type <paramref name="t"/> named after the node being lowered.</summary>
    public string Scalar(string what, double value, DType t) => Initializer(value, t, Fresh($"{_stem}.{what}"));

    /// <summary>A scalar initializer called <paramref name="name"/>.</summary>
    public string Initializer(double value, DType t, string name)
    {
        Initializers.Add(new OnnxInitializer(name, t, [value], []));
        return name;
    }

    /// <summary>An i64 initializer (a vector unless <paramref name="dims"/> says otherwise).</summary>
    public string Longs(string what, IEnumerable<int> values, IEnumerable<int>? dims = null)
    {
        var v = values.Select(i => (double)i).ToArray();
        var name = Fresh($"{_stem}.{what}");
        Initializers.Add(new OnnxInitializer(name, DType.I64, v, dims?.ToArray() ?? [v.Length]));
        return name;
    }

    /// <summary>A reduction; over no axes (a rank-0 operand) it is the identity.</summary>
    public string Reduce(string op, IntList axes, bool keepDims, string x, string y) =>
        axes.Count == 0 ? Emit("Identity", [x], y) : Emit(op, [x, Longs("axes", axes)], y, OnnxAttribute.Of("keepdims", keepDims ? 1 : 0));

    /// <summary>Reshape to exactly <paramref name="dims"/> (allowzero, so a 0 is a size and not "copy this dimension").</summary>
    public string Reshape(string x, IReadOnlyList<int> dims, string? y) =>
        dims.Contains(0) ? Emit("Reshape", [x, Longs("shape", dims)], y, OnnxAttribute.Of("allowzero", 1)) : Emit("Reshape", [x, Longs("shape", dims)], y);

    /// <summary>The sum along one axis, dropping it.</summary>
    public string SumAlong(string v, int axis) => Emit("ReduceSum", [v, Longs("axes", [axis])], null, OnnxAttribute.Of("keepdims", 0));

    /// <summary>Class weights [C] shaped to broadcast along <paramref name="axis"/> of a rank-<paramref name="rank"/> tensor.</summary>
    public string AlongAxis(string w, int classes, int axis, int rank) =>
        axis == rank - 1 ? w : Reshape(w, [classes, .. Enumerable.Repeat(1, rank - 1 - axis)], null);

    /// <summary><paramref name="coefficient"/> · <paramref name="logq"/>, with 0 wherever the coefficient is 0: the
    /// kernels' convention that a class with zero target mass or zero weight contributes nothing, also where its
    /// log-probability is −inf (a −inf logit), where the plain product would be 0·(−inf) = NaN.</summary>
    public string TimesLog(string coefficient, string logq, DType t)
    {
        var zero = Scalar("zero", 0, t);
        return Emit("Where", [Emit("Equal", [coefficient, zero]), zero, Emit("Mul", [coefficient, logq])]);
    }

    /// <summary>Softplus(−|x|), the bounded part of softplus(x) = max(x, 0) + softplus(−|x|) and of
    /// log_sigmoid(x) = min(x, 0) − softplus(−|x|). ONNX defines Softplus as log(exp(x) + 1), and engines may evaluate
    /// it so (ONNX Runtime's f64 kernel overflows to +inf for large x); with the argument at most 0 no engine overflows.</summary>
    public string SoftplusOfMinusAbs(string x) => Emit("Softplus", [Emit("Neg", [Emit("Abs", [x])])]);

    /// <summary>log(1 + x) by Kahan's correction: with u = 1 + x, x where u = 1, u where u is infinite, else
    /// log(u)·x/(u − 1) (ONNX has no Log1p).</summary>
    public string Log1p(DType t, string x, string? y)
    {
        var u = Emit("Add", [Scalar("one", 1, t), x]);
        var general = Emit("Mul", [Emit("Log", [u]), Emit("Div", [x, Emit("Sub", [u, Scalar("one", 1, t)])])]);
        var big = Emit("Where", [Emit("IsInf", [u]), u, general]);
        return Emit("Where", [Emit("Equal", [u, Scalar("one", 1, t)]), x, big], y);
    }

    /// <summary>e^x − 1 by Kahan's correction: with u = e^x, x where u = 1, u − 1 where u is 0 or infinite, else
    /// (u − 1)·x/log(u) (ONNX has no Expm1).</summary>
    public string Expm1(DType t, string x, string? y)
    {
        var u = Emit("Exp", [x]);
        var um1 = Emit("Sub", [u, Scalar("one", 1, t)]);
        var general = Emit("Mul", [um1, Emit("Div", [x, Emit("Log", [u])])]);
        var edge = Emit("Or", [Emit("IsInf", [u]), Emit("Equal", [u, Scalar("zero", 0, t)])]);
        return Emit("Where", [Emit("Equal", [u, Scalar("one", 1, t)]), x, Emit("Where", [edge, um1, general])], y);
    }

    /// <summary>log(−expm1(x)) above −log 2, log1p(−exp(x)) below.</summary>
    public string Log1mexp(DType t, string x, string? y)
    {
        var near = Emit("Log", [Emit("Neg", [Expm1(t, x, null)])]);
        var far = Log1p(t, Emit("Neg", [Emit("Exp", [x])]), null);
        return Emit("Where", [Emit("Greater", [x, Scalar("minus_ln2", -Math.Log(2), t)]), near, far], y);
    }

    /// <summary>A bool mask, true where the label equals the class: the labels with a size-1 axis inserted at
    /// <paramref name="axis"/>, compared with the class numbers laid along that axis of a rank-<paramref name="rank"/>
    /// result. Labels outside [0, C) match no class; an ignored label inside it is masked out explicitly.</summary>
    public string ClassMask(string labels, int classes, int axis, int rank, int? ignore)
    {
        var u = Emit("Unsqueeze", [labels, Longs("axes", [axis])]);
        var numbers = Longs("classes", Enumerable.Range(0, classes), [classes, .. Enumerable.Repeat(1, rank - 1 - axis)]);
        var mask = Emit("Equal", [u, numbers]);
        if (ignore is int k && k >= 0 && k < classes)
            mask = Emit("And", [mask, Emit("Not", [Emit("Equal", [u, Longs("ignore", [k], [])])])]);
        return mask;
    }

    /// <summary>ONNX's element type number of <paramref name="t"/> (1 float, 11 double, 7 int64), for <c>Cast</c>'s <c>to</c>.</summary>
    public static int Elem(DType t) => t switch { DType.F32 => 1, DType.F64 => 11, _ => 7 };

    /// <summary>ONNX's element type number of bool, for <c>Cast</c>'s <c>to</c>.</summary>
    public const int Bool = 9;
}
