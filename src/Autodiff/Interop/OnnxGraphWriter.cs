using Autodiff.Interop.Onnx;
using Google.Protobuf;
using AttributeType = Autodiff.Interop.Onnx.AttributeProto.Types.AttributeType;
using DataType = Autodiff.Interop.Onnx.TensorProto.Types.DataType;

namespace Autodiff.Interop;

/// <summary>Translates one <see cref="Graph"/> into an ONNX <see cref="GraphProto"/>, node by node in topological order.
/// ONNX value names: inputs keep their names, named intermediate nodes their names, other nodes the op's name (made unique
/// with a suffix), the unnamed output <c>output</c>; the extra nodes of a decomposition are named after the node they
/// compute (<c>loss.LogSoftmax</c>, …).</summary>
internal sealed class OnnxGraphWriter
{
    private readonly Graph _graph;
    private readonly GraphProto _proto = new() { Name = "autodiff" };
    private readonly Dictionary<Node, string> _value = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Node, string> _userName = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private string _stem = "";

    public OnnxGraphWriter(Graph graph) => _graph = graph;

    public GraphProto Write()
    {
        foreach (var i in _graph.Inputs)
        {
            string name = ((InputOp)i.Op).InputName;
            _used.Add(name);
            _value[i] = name;
            _proto.Input.Add(ValueInfo(name, i));
        }
        foreach (var (n, s) in _graph.Names.OrderBy(kv => kv.Key.Id))
            if (n.Op is not InputOp && _used.Add(s)) _userName[n] = s;

        var output = _graph.Output;
        foreach (var n in Graph.TopologicalOrder([output]))
            if (n.Op is not InputOp) _value[n] = Translate(n);

        string result = _value[output];
        if (output.Op is InputOp or ConstantOp)
        {
            _stem = "output";
            result = Emit("Identity", [result], Fresh("output"));
        }
        _proto.Output.Add(ValueInfo(result, output));
        return _proto;
    }

    private string Translate(Node n)
    {
        string y = _userName.TryGetValue(n, out var user) ? user
            : Fresh(n == _graph.Output && n.Op is not ConstantOp ? "output" : n.Op.Name);
        _stem = y;
        var x = n.Inputs.Select(i => _value[i]).ToArray();
        return n.Op switch
        {
            ConstantOp c => Initializer(ScalarTensor(c.Value, c.Type), y),
            AddOp => Emit("Add", x, y),
            SubOp => Emit("Sub", x, y),
            MulOp => Emit("Mul", x, y),
            DivOp => Emit("Div", x, y),
            PowOp => Emit("Pow", x, y),
            MaximumOp => Emit("Max", x, y),
            MinimumOp => Emit("Min", x, y),
            LogAddExpOp => LogAddExp(n.DType, x[0], x[1], y),
            LogDiffExpOp => LogDiffExp(n.DType, x[0], x[1], y),
            Log1pOp => Log1p(n.DType, x[0], y),
            Expm1Op => Expm1(n.DType, x[0], y),
            Log1mexpOp => Log1mexp(n.DType, x[0], y),
            Log1mSoftmaxOp s => Log1mSoftmax(n, s.Axis, x[0], y),
            NegOp => Emit("Neg", x, y),
            ExpOp => Emit("Exp", x, y),
            LogOp => Emit("Log", x, y),
            SqrtOp => Emit("Sqrt", x, y),
            AbsOp => Emit("Abs", x, y),
            SignOp => Emit("Sign", x, y),
            SquareOp => Emit("Mul", [x[0], x[0]], y),
            SigmoidOp => Emit("Sigmoid", x, y),
            TanhOp => Emit("Tanh", x, y),
            ReluOp => Emit("Relu", x, y),
            SoftplusOp => Emit("Add", [Emit("Relu", x), SoftplusOfMinusAbs(x[0])], y),
            LogSigmoidOp => Emit("Sub", [Emit("Min", [x[0], Scalar("zero", 0, n.DType)]), SoftplusOfMinusAbs(x[0])], y),
            StopGradientOp => Emit("Identity", x, y),
            SumOp r => Reduce("ReduceSum", r.Axes, r.KeepDims, x[0], y),
            MeanOp r => Reduce("ReduceMean", r.Axes, r.KeepDims, x[0], y),
            MaxOp r => Reduce("ReduceMax", r.Axes, r.KeepDims, x[0], y),
            MinOp r => Reduce("ReduceMin", r.Axes, r.KeepDims, x[0], y),
            ReduceOp { Name: "prod" } r => Reduce("ReduceProd", r.Axes, r.KeepDims, x[0], y),
            LogSumExpOp r => Reduce("ReduceLogSumExp", r.Axes, r.KeepDims, x[0], y),
            SoftmaxOp s => Emit("Softmax", x, y, Int("axis", s.Axis)),
            LogSoftmaxOp s => Emit("LogSoftmax", x, y, Int("axis", s.Axis)),
            SoftmaxCrossEntropyOp ce => DenseCrossEntropy(n, ce, x, y),
            SparseSoftmaxCrossEntropyOp ce => SparseCrossEntropy(n, ce, x, y),
            MatMulOp => Emit("MatMul", x, y),
            TransposeOp t => Emit("Transpose", x, y, Ints("perm", t.Perm)),
            ReshapeOp r => Reshape(x[0], r.NewShape, y),
            BroadcastToOp b => Emit("Expand", [x[0], Longs("shape", b.NewShape)], y),
            OneHotOp o => Emit("Cast", [ClassMask(x[0], o.Classes, n.Shape.Rank - 1, n.Shape.Rank, null)], y, Int("to", Elem(o.Type))),
            MaskedOneHotOp o => Emit("Cast", [ClassMask(x[0], o.Classes, n.Shape.Rank - 1, n.Shape.Rank, o.IgnoreIndex)], y, Int("to", Elem(o.Type))),
            TakeOp t => Take(n, t, x, y),
            WhereOp => Emit("Where", [Emit("Cast", [x[0]], null, Int("to", (int)DataType.Bool)), x[1], x[2]], y),
            _ => throw new AutodiffException($"onnx export: op '{n.Op.Name}' has no ONNX mapping"),
        };
    }

    /// <summary>Softplus(−|x|), the bounded part of softplus(x) = max(x, 0) + softplus(−|x|) and of
    /// log_sigmoid(x) = min(x, 0) − softplus(−|x|). ONNX defines Softplus as log(exp(x) + 1), and engines may evaluate
    /// it so (ONNX Runtime's f64 kernel overflows to +inf for large x); with the argument at most 0 no engine overflows.</summary>
    private string SoftplusOfMinusAbs(string x) => Emit("Softplus", [Emit("Neg", [Emit("Abs", [x])])]);

    /// <summary>max(a, b) + softplus(−|a − b|) (= log(1 + exp(−|a − b|)), with no overflow), and a + log 2 where
    /// a = b (so that equal infinities give that infinity, not NaN).</summary>
    private string LogAddExp(DType t, string a, string b, string y)
    {
        var general = Emit("Add", [Emit("Max", [a, b]), SoftplusOfMinusAbs(Emit("Sub", [a, b]))]);
        var equal = Emit("Add", [a, Scalar("ln2", Math.Log(2), t)]);
        return Emit("Where", [Emit("Equal", [a, b]), equal, general], y);
    }

    /// <summary>log(1 + x) by Kahan's correction: with u = 1 + x, x where u = 1, u where u is infinite, else
    /// log(u)·x/(u − 1) (ONNX has no Log1p).</summary>
    private string Log1p(DType t, string x, string? y)
    {
        var u = Emit("Add", [Scalar("one", 1, t), x]);
        var general = Emit("Mul", [Emit("Log", [u]), Emit("Div", [x, Emit("Sub", [u, Scalar("one", 1, t)])])]);
        var big = Emit("Where", [Emit("IsInf", [u]), u, general]);
        return Emit("Where", [Emit("Equal", [u, Scalar("one", 1, t)]), x, big], y);
    }

    /// <summary>e^x − 1 by Kahan's correction: with u = e^x, x where u = 1, u − 1 where u is 0 or infinite, else
    /// (u − 1)·x/log(u) (ONNX has no Expm1).</summary>
    private string Expm1(DType t, string x, string? y)
    {
        var u = Emit("Exp", [x]);
        var um1 = Emit("Sub", [u, Scalar("one", 1, t)]);
        var general = Emit("Mul", [um1, Emit("Div", [x, Emit("Log", [u])])]);
        var edge = Emit("Or", [Emit("IsInf", [u]), Emit("Equal", [u, Scalar("zero", 0, t)])]);
        return Emit("Where", [Emit("Equal", [u, Scalar("one", 1, t)]), x, Emit("Where", [edge, um1, general])], y);
    }

    /// <summary>log(−expm1(x)) above −log 2, log1p(−exp(x)) below.</summary>
    private string Log1mexp(DType t, string x, string? y)
    {
        var near = Emit("Log", [Emit("Neg", [Expm1(t, x, null)])]);
        var far = Log1p(t, Emit("Neg", [Emit("Exp", [x])]), null);
        return Emit("Where", [Emit("Greater", [x, Scalar("minus_ln2", -Math.Log(2), t)]), near, far], y);
    }

    /// <summary>a + log1mexp(b − a), and a where b = −inf.</summary>
    private string LogDiffExp(DType t, string a, string b, string y)
    {
        var general = Emit("Add", [a, Log1mexp(t, Emit("Sub", [b, a]), null)]);
        var none = Emit("IsInf", [b], null, Int("detect_positive", 0));
        return Emit("Where", [none, a, general], y);
    }

    /// <summary>log(1 − softmax(x)) along <paramref name="axis"/>: log1p(−exp(x − lse)) except at the first row maximum,
    /// which is the others' logsumexp (shifted by their own maximum) minus lse.</summary>
    private string Log1mSoftmax(Node n, int axis, string x, string y)
    {
        var t = n.DType;
        int classes = n.Shape[axis];
        var axes = Longs("axes", [axis]);
        var m = Emit("ReduceMax", [x, axes], null, Int("keepdims", 1));
        var e = Emit("Exp", [Emit("Sub", [x, m])]);
        var s = Emit("ReduceSum", [e, Longs("axes", [axis])], null, Int("keepdims", 1));
        var lse = Emit("Add", [m, Emit("Log", [s])]);
        var general = Log1p(t, Emit("Neg", [Emit("Exp", [Emit("Sub", [x, lse])])]), null);
        var k = Emit("ArgMax", [x], null, Int("axis", axis), Int("keepdims", 0));
        var mask = ClassMask(k, classes, axis, n.Shape.Rank, null);
        var rest = Emit("Where", [mask, Scalar("minus_inf", double.NegativeInfinity, t), x]);
        var m2 = Emit("ReduceMax", [rest, Longs("axes", [axis])], null, Int("keepdims", 1));
        m2 = Emit("Where", [Emit("IsInf", [m2], null, Int("detect_positive", 0)), m, m2]);
        var others = Emit("ReduceSum", [Emit("Exp", [Emit("Sub", [rest, m2])]), Longs("axes", [axis])], null, Int("keepdims", 1));
        var atMax = Emit("Sub", [Emit("Add", [m2, Emit("Log", [others])]), lse]);
        return Emit("Where", [mask, atMax, general], y);
    }

    /// <summary>−Σ_c w_c·p'_c·LogSoftmax(z)_c along the class axis, p' = (1 − ε)·p + ε/C.</summary>
    private string DenseCrossEntropy(Node n, SoftmaxCrossEntropyOp ce, string[] x, string y)
    {
        var z = n.Inputs[0];
        int rank = z.Shape.Rank, classes = z.Shape[ce.Axis];
        double eps = ce.LabelSmoothing;
        string target = x[1];
        if (eps != 0) target = Emit("Add", [Emit("Mul", [target, Scalar("keep", 1 - eps, z.DType)]), Scalar("spread", eps / classes, z.DType)]);
        if (x.Length > 2) target = Emit("Mul", [target, AlongAxis(x[2], classes, ce.Axis, rank)]);
        var logq = Emit("LogSoftmax", [x[0]], null, Int("axis", ce.Axis));
        return Emit("Neg", [SumAlong(Emit("Mul", [target, logq]), ce.Axis)], y);
    }

    /// <summary>ONNX's SoftmaxCrossEntropyLoss (reduction none) with the class axis moved to 1, without label smoothing
    /// (which ONNX's op does not have); with it, w_t·((1 − ε)·(−log q_t) + ε·(−mean_c log q_c)) from LogSoftmax and a
    /// class mask, the mask also zeroing ignored rows.</summary>
    private string SparseCrossEntropy(Node n, SparseSoftmaxCrossEntropyOp ce, string[] x, string y)
    {
        var z = n.Inputs[0];
        int rank = z.Shape.Rank, classes = z.Shape[ce.Axis], axis = ce.Axis;
        double eps = ce.LabelSmoothing;
        if (eps == 0)
        {
            string scores = x[0], labels = x[1];
            if (rank == 1)
            {
                scores = Emit("Unsqueeze", [scores, Longs("axes", [0])]);
                labels = Emit("Unsqueeze", [labels, Longs("axes", [0])]);
            }
            else if (axis != 1)
            {
                var perm = Enumerable.Range(0, rank).Where(i => i != axis).ToList();
                perm.Insert(1, axis);
                scores = Emit("Transpose", [scores], null, Ints("perm", perm));
            }
            AttributeProto[] attributes = ce.IgnoreIndex is int k
                ? [Str("reduction", "none"), Int("ignore_index", k)]
                : [Str("reduction", "none")];
            string[] operands = [scores, labels, .. x.Skip(2)];
            return rank == 1
                ? Emit("Squeeze", [Emit("SoftmaxCrossEntropyLoss", operands, null, attributes), Longs("axes", [0])], y)
                : Emit("SoftmaxCrossEntropyLoss", operands, y, attributes);
        }

        var logq = Emit("LogSoftmax", [x[0]], null, Int("axis", axis));
        var mask = Emit("Cast", [ClassMask(x[1], classes, axis, rank, ce.IgnoreIndex)], null, Int("to", Elem(z.DType)));
        var picked = Emit("Neg", [SumAlong(Emit("Mul", [mask, logq]), axis)]);
        var uniform = Emit("Neg", [Emit("ReduceMean", [logq, Longs("axes", [axis])], null, Int("keepdims", 0))]);
        string? scale = x.Length > 2 ? SumAlong(Emit("Mul", [mask, AlongAxis(x[2], classes, axis, rank)]), axis)
            : ce.IgnoreIndex is not null ? SumAlong(mask, axis)
            : null;
        string[] terms = [Emit("Mul", [picked, Scalar("keep", 1 - eps, z.DType)]), Emit("Mul", [uniform, Scalar("eps", eps, z.DType)])];
        return scale is null ? Emit("Add", terms, y) : Emit("Mul", [Emit("Add", terms), scale], y);
    }

    /// <summary>A bool mask, true where the label equals the class: the labels with a size-1 axis inserted at
    /// <paramref name="axis"/>, compared with the class numbers laid along that axis of a rank-<paramref name="rank"/>
    /// result. Labels outside [0, C) match no class; an ignored label inside it is masked out explicitly.</summary>
    private string ClassMask(string labels, int classes, int axis, int rank, int? ignore)
    {
        var u = Emit("Unsqueeze", [labels, Longs("axes", [axis])]);
        var numbers = Longs("classes", Enumerable.Range(0, classes), [classes, .. Enumerable.Repeat(1, rank - 1 - axis)]);
        var mask = Emit("Equal", [u, numbers]);
        if (ignore is int k && k >= 0 && k < classes)
            mask = Emit("And", [mask, Emit("Not", [Emit("Equal", [u, Longs("ignore", [k], [])])])]);
        return mask;
    }

    private string Take(Node n, TakeOp t, string[] x, string y)
    {
        var axis = Int("axis", t.Axis);
        if (n.Inputs[1].Shape.Rank == n.Inputs[0].Shape.Rank) return Emit("GatherElements", x, y, axis);
        var g = Emit("GatherElements", [x[0], Emit("Unsqueeze", [x[1], Longs("axes", [t.Axis])])], null, axis);
        return Emit("Squeeze", [g, Longs("axes", [t.Axis])], y);
    }

    /// <summary>Class weights [C] shaped to broadcast along <paramref name="axis"/> of a rank-<paramref name="rank"/> tensor.</summary>
    private string AlongAxis(string w, int classes, int axis, int rank) =>
        axis == rank - 1 ? w : Reshape(w, [classes, .. Enumerable.Repeat(1, rank - 1 - axis)], null);

    private string SumAlong(string v, int axis) => Emit("ReduceSum", [v, Longs("axes", [axis])], null, Int("keepdims", 0));

    /// <summary>A reduction; over no axes (a rank-0 operand) it is the identity.</summary>
    private string Reduce(string op, IntList axes, bool keepDims, string x, string y) =>
        axes.Count == 0 ? Emit("Identity", [x], y) : Emit(op, [x, Longs("axes", axes)], y, Int("keepdims", keepDims ? 1 : 0));

    /// <summary>Reshape to exactly <paramref name="dims"/> (allowzero, so a 0 is a size and not "copy this dimension").</summary>
    private string Reshape(string x, IReadOnlyList<int> dims, string? y) =>
        dims.Contains(0) ? Emit("Reshape", [x, Longs("shape", dims)], y, Int("allowzero", 1)) : Emit("Reshape", [x, Longs("shape", dims)], y);

    /// <summary>Adds a node; its output is <paramref name="output"/>, or a fresh name after the node being translated.</summary>
    private string Emit(string opType, IEnumerable<string> inputs, string? output = null, params AttributeProto[] attributes)
    {
        output ??= Fresh($"{_stem}.{opType}");
        var node = new NodeProto { OpType = opType, Output = { output } };
        node.Input.AddRange(inputs);
        node.Attribute.AddRange(attributes);
        _proto.Node.Add(node);
        return output;
    }

    private string Fresh(string stem)
    {
        string name = stem;
        for (int k = 1; !_used.Add(name); k++) name = $"{stem}_{k}";
        return name;
    }

    private string Initializer(TensorProto t, string name)
    {
        t.Name = name;
        _proto.Initializer.Add(t);
        return name;
    }

    private string Scalar(string what, double value, DType t) => Initializer(ScalarTensor(value, t), Fresh($"{_stem}.{what}"));

    private string Longs(string what, IEnumerable<int> values, IEnumerable<int>? dims = null)
    {
        var t = new TensorProto { DataType = (int)DataType.Int64 };
        t.Int64Data.AddRange(values.Select(v => (long)v));
        t.Dims.AddRange(dims?.Select(d => (long)d) ?? [t.Int64Data.Count]);
        return Initializer(t, Fresh($"{_stem}.{what}"));
    }

    private static TensorProto ScalarTensor(double value, DType t)
    {
        var p = new TensorProto { DataType = Elem(t) };
        switch (t)
        {
            case DType.F32: p.FloatData.Add((float)value); break;
            case DType.F64: p.DoubleData.Add(value); break;
            default: p.Int64Data.Add((long)value); break;
        }
        return p;
    }

    internal static int Elem(DType t) => (int)(t switch
    {
        DType.F32 => DataType.Float,
        DType.F64 => DataType.Double,
        _ => DataType.Int64,
    });

    private static ValueInfoProto ValueInfo(string name, Node n)
    {
        var shape = new TensorShapeProto();
        foreach (var d in n.Shape) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = Elem(n.DType), Shape = shape } } };
    }

    private static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeType.Int, I = value };

    private static AttributeProto Ints(string name, IEnumerable<int> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeType.Ints };
        a.Ints.AddRange(values.Select(v => (long)v));
        return a;
    }

    private static AttributeProto Str(string name, string value) => new() { Name = name, Type = AttributeType.String, S = ByteString.CopyFromUtf8(value) };
}
