using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Autodiff.Text;

/// <summary>The kind of value a function parameter accepts in the expression language.</summary>
public enum ArgKind
{
    /// <summary>A tensor expression (an operand of the op). Number literals given here are weakly typed: they take the
    /// float type of the call's first non-literal float operand (or the program's default float type).</summary>
    Tensor,
    /// <summary>An integer literal, e.g. <c>axis=1</c> or <c>axis=-1</c>.</summary>
    Int,
    /// <summary>An integer or a tuple of integers, e.g. <c>axis=1</c>, <c>axis=(0, 1)</c>, <c>shape=()</c>.</summary>
    Ints,
    /// <summary><c>true</c> or <c>false</c>.</summary>
    Bool,
    /// <summary>An element type name: <c>f32</c>, <c>f64</c> or <c>i64</c>.</summary>
    DType,
    /// <summary>A number literal, e.g. <c>0.5</c>, <c>-1</c>, <c>1e-3</c>, <c>inf</c>, <c>nan</c>.</summary>
    Number,
}

/// <summary>One parameter of a <see cref="FunctionSpec"/>. Arguments may be given positionally (in parameter order) or
/// by name; an optional parameter that is not given is absent from <see cref="CallArgs"/> (the builder picks the default).</summary>
/// <param name="Name">The parameter name, used for named arguments and in messages.</param>
/// <param name="Kind">The kind of value accepted.</param>
/// <param name="Optional">True if the argument may be left out.</param>
/// <param name="IntegerLiterals">For a tensor operand: a whole-number literal given here is an i64 constant instead of a
/// weakly typed float (the Gumbel ops' <c>step=7</c>).</param>
public sealed record FunctionParam(string Name, ArgKind Kind, bool Optional = false, bool IntegerLiterals = false)
{
    /// <summary>A tensor operand (optional ones, such as class weights, come after the required ones).</summary>
    public static FunctionParam Tensor(string name, bool optional = false) => new(name, ArgKind.Tensor, optional);

    /// <summary>An i64 tensor operand, where a whole-number literal is an i64 constant.</summary>
    public static FunctionParam IntegerTensor(string name, bool optional = false) => new(name, ArgKind.Tensor, optional, IntegerLiterals: true);

    /// <summary>An integer parameter.</summary>
    public static FunctionParam Int(string name, bool optional = false) => new(name, ArgKind.Int, optional);

    /// <summary>An integer-or-tuple parameter.</summary>
    public static FunctionParam Ints(string name, bool optional = false) => new(name, ArgKind.Ints, optional);

    /// <summary>An optional boolean parameter.</summary>
    public static FunctionParam Bool(string name) => new(name, ArgKind.Bool, Optional: true);

    /// <summary>An element type parameter.</summary>
    public static FunctionParam DType(string name, bool optional = true) => new(name, ArgKind.DType, optional);

    /// <summary>A number parameter.</summary>
    public static FunctionParam Number(string name, bool optional = false) => new(name, ArgKind.Number, optional);

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>One entry of the function table: the name used in programs, the parameters (tensor operands first, in the
/// op's operand order, then attributes in the order <see cref="Op.Attributes"/> prints them) and the builder.
/// See <see cref="Functions"/> for how to add one.</summary>
/// <param name="Name">The function name in the language (normally the op's <see cref="Op.Name"/>).</param>
/// <param name="Parameters">The parameters, in positional order.</param>
/// <param name="Build">Builds the node from the bound arguments; shape errors it throws are reported at the call.</param>
public sealed record FunctionSpec(string Name, IReadOnlyList<FunctionParam> Parameters, Func<CallArgs, Expr> Build)
{
    /// <summary>Number of tensor operands.</summary>
    public int OperandCount => Parameters.Count(p => p.Kind == ArgKind.Tensor);

    /// <summary>The index of the parameter called <paramref name="name"/>, or -1.</summary>
    public int IndexOf(string name)
    {
        for (int i = 0; i < Parameters.Count; i++) if (Parameters[i].Name == name) return i;
        return -1;
    }

    /// <summary>The signature as shown in messages, e.g. <c>sum(x, axis?, keepdims?)</c>.</summary>
    public string Signature => $"{Name}({string.Join(", ", Parameters.Select(p => p.Optional ? p.Name + "?" : p.Name))})";
}

/// <summary>The arguments of one call, bound to the parameters of a <see cref="FunctionSpec"/> and converted to values,
/// as seen by the spec's builder.</summary>
public sealed class CallArgs
{
    private readonly object?[] _values;

    internal CallArgs(FunctionSpec function, object?[] values, GraphBuilder builder, DType defaultFloat)
    {
        Function = function;
        _values = values;
        Builder = builder;
        DefaultFloat = defaultFloat;
    }

    /// <summary>The function being called.</summary>
    public FunctionSpec Function { get; }

    /// <summary>The builder the program is built in.</summary>
    public GraphBuilder Builder { get; }

    /// <summary>The program's default float type: that of the first float input, else <see cref="DType.F32"/>.</summary>
    public DType DefaultFloat { get; }

    /// <summary>True if the argument was given.</summary>
    public bool Has(string name) => _values[Index(name)] is not null;

    /// <summary>A required tensor operand.</summary>
    public Expr Tensor(string name) => Get<Expr?>(name, ArgKind.Tensor) ?? throw Missing(name);

    /// <summary>An optional tensor operand, or null if not given.</summary>
    public Expr? OptionalTensor(string name) => Get<Expr?>(name, ArgKind.Tensor);

    /// <summary>A required integer argument.</summary>
    public int Int(string name) => Get<int?>(name, ArgKind.Int) ?? throw Missing(name);

    /// <summary>An optional integer argument, or <paramref name="fallback"/>.</summary>
    public int Int(string name, int fallback) => Get<int?>(name, ArgKind.Int) ?? fallback;

    /// <summary>An integer-or-tuple argument as an array, or null if not given.</summary>
    public int[]? Ints(string name) => Get<int[]>(name, ArgKind.Ints);

    /// <summary>A boolean argument, or <paramref name="fallback"/>.</summary>
    public bool Bool(string name, bool fallback = false) => Get<bool?>(name, ArgKind.Bool) ?? fallback;

    /// <summary>An element type argument, or <paramref name="fallback"/>.</summary>
    public DType DType(string name, DType fallback) => Get<DType?>(name, ArgKind.DType) ?? fallback;

    /// <summary>A required number argument.</summary>
    public double Number(string name) => Get<double?>(name, ArgKind.Number) ?? throw Missing(name);

    private int Index(string name)
    {
        int i = Function.IndexOf(name);
        return i >= 0 ? i : throw new InvalidOperationException($"{Function.Name}: the function table entry has no parameter '{name}'");
    }

    private T? Get<T>(string name, ArgKind kind)
    {
        int i = Index(name);
        if (Function.Parameters[i].Kind != kind)
            throw new InvalidOperationException($"{Function.Name}: parameter '{name}' is {Function.Parameters[i].Kind}, not {kind}");
        return _values[i] is T v ? v : default;
    }

    private InvalidOperationException Missing(string name) => new($"{Function.Name}: argument '{name}' was not given");
}

/// <summary>The function table of the expression language: one <see cref="FunctionSpec"/> per function name.
/// <para>To add a function (for instance a fused op such as <c>softmax</c>), add one <see cref="Register"/> call to
/// <c>RegisterBuiltins</c> in this file (or call <see cref="Register"/> from elsewhere before parsing):</para>
/// <code>
/// Register(new("softmax", [FunctionParam.Tensor("x"), FunctionParam.Int("axis", optional: true)],
///     a => a.Tensor("x").Softmax(a.Int("axis", -1))));
/// </code>
/// <para>Rules that keep printing and parsing inverse to each other: the entry's name is the op's <see cref="Op.Name"/>;
/// the tensor parameters come first, one per operand, in the op's operand order (an operand that always prints as a named
/// argument may instead come last, as the Gumbel ops' <c>step</c> does, so that positional calls without it keep their
/// meaning); the remaining parameters accept
/// exactly what the op's <see cref="Op.Attributes"/> prints (positional values fill the next parameters in order,
/// named values are matched by name); and building from the printed arguments gives back an equal op. The printer
/// writes operands positionally except those for which <see cref="Op.OperandName"/> gives a name (written
/// <c>name=operand</c>, e.g. class weights or a CRF's <c>lengths</c>); the parameter must have that name. Two ops that print under one name (a variant with an extra attribute) share one entry whose builder
/// picks the op from the arguments given (<see cref="CallArgs.Has"/>). Literals passed as tensor operands are weakly
/// typed by the parser before the builder runs, so builders only ever see <see cref="Expr"/> operands.</para></summary>
public static class Functions
{
    private static readonly ConcurrentDictionary<string, FunctionSpec> Table = CreateTable();

    /// <summary>The registered function names (including aliases), sorted.</summary>
    public static IReadOnlyList<string> Names => Table.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>Adds a function. Throws if the name is not an identifier or is already registered.</summary>
    public static void Register(FunctionSpec spec) => Add(Table, spec);

    /// <summary>Makes <paramref name="alias"/> another name for the registered function <paramref name="target"/>.</summary>
    public static void Alias(string alias, string target) => AddAlias(Table, alias, target);

    /// <summary>Looks up a function by name.</summary>
    public static bool TryGet(string name, [MaybeNullWhen(false)] out FunctionSpec spec) => Table.TryGetValue(name, out spec);

    private static void Add(ConcurrentDictionary<string, FunctionSpec> table, FunctionSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (!GraphBuilder.IsIdentifier(spec.Name)) throw new ArgumentException($"'{spec.Name}' is not a valid function name", nameof(spec));
        var seen = new HashSet<string>();
        foreach (var p in spec.Parameters)
            if (!GraphBuilder.IsIdentifier(p.Name) || !seen.Add(p.Name))
                throw new ArgumentException($"{spec.Name}: parameter name '{p.Name}' is invalid or repeated", nameof(spec));
        if (!table.TryAdd(spec.Name, spec)) throw new ArgumentException($"function '{spec.Name}' is already registered", nameof(spec));
    }

    private static void AddAlias(ConcurrentDictionary<string, FunctionSpec> table, string alias, string target)
    {
        if (!table.TryGetValue(target, out var spec)) throw new ArgumentException($"no function named '{target}'", nameof(target));
        Add(table, spec with { Name = alias });
    }

    private static ConcurrentDictionary<string, FunctionSpec> CreateTable()
    {
        var t = new ConcurrentDictionary<string, FunctionSpec>(StringComparer.Ordinal);
        RegisterBuiltins(spec => Add(t, spec), (alias, target) => AddAlias(t, alias, target));
        return t;
    }

    private static void RegisterBuiltins(Action<FunctionSpec> Register, Action<string, string> Alias)
    {
        var x = FunctionParam.Tensor("x");
        var a = FunctionParam.Tensor("a");
        var b = FunctionParam.Tensor("b");

        // Elementwise unary ops.
        void Unary(string name, Func<Expr, Expr> f) => Register(new(name, [x], c => f(c.Tensor("x"))));
        Unary("neg", e => -e);
        Unary("exp", e => e.Exp());
        Unary("log", e => e.Log());
        Unary("sqrt", e => e.Sqrt());
        Unary("abs", e => e.Abs());
        Unary("sign", e => e.Sign());
        Unary("square", e => e.Square());
        Unary("sigmoid", e => e.Sigmoid());
        Unary("tanh", e => e.Tanh());
        Unary("relu", e => e.Relu());
        Unary("softplus", e => e.Softplus());
        Unary("log_sigmoid", e => e.LogSigmoid());
        Unary("log1p", e => e.Log1p());
        Unary("expm1", e => e.Expm1());
        Unary("log1mexp", e => e.Log1mexp());
        Unary("stop_gradient", e => e.StopGradient());

        // Elementwise binary ops (add, sub, mul, div, pow and matmul print as infix operators).
        void Binary(string name, Func<Expr, Expr, Expr> f) => Register(new(name, [a, b], c => f(c.Tensor("a"), c.Tensor("b"))));
        Binary("add", (p, q) => p + q);
        Binary("sub", (p, q) => p - q);
        Binary("mul", (p, q) => p * q);
        Binary("div", (p, q) => p / q);
        Binary("pow", (p, q) => p.Pow(q));
        Binary("maximum", (p, q) => p.Maximum(q));
        Binary("minimum", (p, q) => p.Minimum(q));
        Binary("matmul", (p, q) => p.MatMul(q));

        // Reductions: no axis means all axes.
        FunctionParam[] reduce = [x, FunctionParam.Ints("axis", optional: true), FunctionParam.Bool("keepdims")];
        Register(new("sum", reduce, c => c.Tensor("x").Sum(c.Ints("axis"), c.Bool("keepdims"))));
        Register(new("mean", reduce, c => c.Tensor("x").Mean(c.Ints("axis"), c.Bool("keepdims"))));
        Register(new("max", reduce, c => c.Tensor("x").Max(c.Ints("axis"), c.Bool("keepdims"))));
        Register(new("min", reduce, c => c.Tensor("x").Min(c.Ints("axis"), c.Bool("keepdims"))));

        // Shape ops. reshape and broadcast_to build the op as written (even when it does not change the shape), so that
        // printing and parsing are exact inverses; a -1 in a reshape is inferred.
        Register(new("transpose", [x, FunctionParam.Ints("axes", optional: true)], c => c.Tensor("x").Transpose(c.Ints("axes") ?? [])));
        Register(new("reshape", [x, FunctionParam.Ints("shape")], c =>
        {
            var e = c.Tensor("x");
            var s = c.Ints("shape")!;
            if (!s.Contains(-1)) return e.Apply(new ReshapeOp(new IntList(s)));
            var r = e.Reshape(s);   // infers the -1 (and returns e itself when the shape does not change)
            return r == e ? e.Apply(new ReshapeOp(new IntList(e.Shape.ToArray()))) : r;
        }));
        Register(new("broadcast_to", [x, FunctionParam.Ints("shape")], c => c.Tensor("x").Apply(new BroadcastToOp(new IntList(c.Ints("shape")!)))));
        Alias("expand", "broadcast_to");
        Register(new("squeeze", [x, FunctionParam.Ints("axis", optional: true)], c => c.Tensor("x").Squeeze(c.Ints("axis") ?? [])));
        Register(new("unsqueeze", [x, FunctionParam.Int("axis")], c => c.Tensor("x").Unsqueeze(c.Int("axis"))));

        // Indexing.
        Register(new("one_hot", [FunctionParam.Tensor("t"), FunctionParam.Int("classes"), FunctionParam.DType("dtype"), FunctionParam.Int("ignore_index", optional: true)],
            c => c.Has("ignore_index") ? c.Tensor("t").OneHot(c.Int("classes"), c.DType("dtype", c.DefaultFloat), c.Int("ignore_index"))
                                       : c.Tensor("t").OneHot(c.Int("classes"), c.DType("dtype", c.DefaultFloat))));
        Register(new("take", [x, FunctionParam.Tensor("t"), FunctionParam.Int("axis", optional: true)],
            c => c.Tensor("x").Take(c.Tensor("t"), c.Int("axis", -1))));
        Register(new("where", [FunctionParam.Tensor("mask"), a, b], c => Expr.Where(c.Tensor("mask"), c.Tensor("a"), c.Tensor("b"))));

        // Fused ops (Ops/Fused*.cs).
        Register(new("softmax", [x, FunctionParam.Int("axis", optional: true)], c => c.Tensor("x").Softmax(c.Int("axis", -1))));
        Register(new("log_softmax", [x, FunctionParam.Int("axis", optional: true)], c => c.Tensor("x").LogSoftmax(c.Int("axis", -1))));
        Register(new("logsumexp", reduce, c => c.Tensor("x").LogSumExp(c.Ints("axis"), c.Bool("keepdims"))));
        Register(new("logaddexp", [a, b], c => c.Tensor("a").LogAddExp(c.Tensor("b"))));
        Register(new("logdiffexp", [a, b], c => c.Tensor("a").LogDiffExp(c.Tensor("b"))));
        Register(new("log1m_softmax", [x, FunctionParam.Int("axis", optional: true)], c => c.Tensor("x").Log1mSoftmax(c.Int("axis", -1))));
        Register(new("softmax_cross_entropy",
            [FunctionParam.Tensor("logits"), FunctionParam.Tensor("targets"), FunctionParam.Tensor("weights", optional: true),
             FunctionParam.Int("axis", optional: true), FunctionParam.Bool("normalized"), FunctionParam.Number("label_smoothing", optional: true)],
            c => c.Tensor("logits").SoftmaxCrossEntropy(c.Tensor("targets"), c.Int("axis", -1), c.Bool("normalized"),
                c.Has("label_smoothing") ? c.Number("label_smoothing") : 0, c.OptionalTensor("weights"))));
        Register(new("sparse_softmax_cross_entropy",
            [FunctionParam.Tensor("logits"), FunctionParam.Tensor("labels"), FunctionParam.Tensor("weights", optional: true),
             FunctionParam.Int("axis", optional: true), FunctionParam.Int("ignore_index", optional: true), FunctionParam.Number("label_smoothing", optional: true)],
            c => c.Tensor("logits").SparseSoftmaxCrossEntropy(c.Tensor("labels"), c.Int("axis", -1),
                c.Has("ignore_index") ? c.Int("ignore_index") : null, c.Has("label_smoothing") ? c.Number("label_smoothing") : 0, c.OptionalTensor("weights"))));

        // Stochastic softmax (Structured/Gumbel.cs): the noise is a fixed function of the seed, the optional i64 scalar step
        // operand and the element index. The step prints as a named argument, so its parameter comes last and positional
        // calls without it keep their meaning.
        var logits = FunctionParam.Tensor("logits");
        var step = FunctionParam.IntegerTensor("step", optional: true);
        Register(new("gumbel_noise", [FunctionParam.Ints("shape"), FunctionParam.Int("seed"), FunctionParam.DType("dtype"), step],
            c => Expr.GumbelNoise(c.Builder, c.Ints("shape")!, c.Int("seed"), c.DType("dtype", c.DefaultFloat), c.OptionalTensor("step"))));
        Register(new("gumbel_max", [logits, FunctionParam.Int("axis", optional: true), FunctionParam.Int("seed"), step],
            c => c.Tensor("logits").GumbelMax(c.Int("seed"), c.Int("axis", -1), c.OptionalTensor("step"))));
        Register(new("gumbel_softmax", [logits, FunctionParam.Number("tau"), FunctionParam.Int("axis", optional: true), FunctionParam.Bool("hard"), FunctionParam.Int("seed"), step],
            c => c.Tensor("logits").GumbelSoftmax(c.Number("tau"), c.Int("seed"), c.Int("axis", -1), c.Bool("hard"), c.OptionalTensor("step"))));
        Register(new("gumbel_top_k", [logits, FunctionParam.Int("k"), FunctionParam.Int("axis", optional: true), FunctionParam.Int("seed"), step],
            c => c.Tensor("logits").GumbelTopK(c.Int("k"), c.Int("seed"), c.Int("axis", -1), c.OptionalTensor("step"))));

        // Sampled losses (Structured/SampledLoss.cs): TensorFlow's nce_loss and sampled_softmax_loss, in TensorFlow's
        // argument order; the two companion ops give the logits' gradient (the losses' printed backward graphs use them).
        FunctionParam[] sampledLoss =
            [x, FunctionParam.Tensor("w"), b, FunctionParam.Tensor("labels"), FunctionParam.Tensor("sampled"),
             FunctionParam.Tensor("true_expected"), FunctionParam.Tensor("sampled_expected")];
        Expr[] LossOperands(CallArgs c) =>
            [c.Tensor("w"), c.Tensor("b"), c.Tensor("labels"), c.Tensor("sampled"), c.Tensor("true_expected"), c.Tensor("sampled_expected")];
        var hits = FunctionParam.Bool("remove_accidental_hits");
        var logQ = FunctionParam.Bool("subtract_log_q");
        Register(new("nce_loss", [.. sampledLoss, hits, logQ],
            c => c.Tensor("x").Apply(new NceLossOp(c.Bool("remove_accidental_hits", false), c.Bool("subtract_log_q", true)), LossOperands(c))));
        Register(new("sampled_softmax_loss", [.. sampledLoss, hits, logQ],
            c => c.Tensor("x").Apply(new SampledSoftmaxLossOp(c.Bool("remove_accidental_hits", true), c.Bool("subtract_log_q", true)), LossOperands(c))));
        foreach (bool ofSampled in new[] { false, true })
            Register(new(new SampledLogitsGradOp(false, false, true, ofSampled).Name, [.. sampledLoss, FunctionParam.Bool("softmax"), hits, logQ],
                c => c.Tensor("x").Apply(new SampledLogitsGradOp(c.Bool("softmax"), c.Bool("remove_accidental_hits"), c.Bool("subtract_log_q", true), ofSampled), LossOperands(c))));

        // Products, leave-one-out products and p-norms (Structured/Product.cs, Structured/PNorm.cs). prod_others takes up to 8
        // tangents in the language (each derivative order of a product adds one).
        Register(new("prod", reduce, c => c.Tensor("x").Prod(c.Ints("axis"), c.Bool("keepdims"))));
        string[] tangents = ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"];
        Register(new("prod_others", [x, .. tangents.Select(t => FunctionParam.Tensor(t, optional: true)), FunctionParam.Ints("axis", optional: true)],
            c => c.Tensor("x").ProdOthers(c.Ints("axis"), [.. tangents.Where(c.Has).Select(c.Tensor)])));
        Register(new("pnorm", [x, FunctionParam.Number("p", optional: true), FunctionParam.Ints("axis", optional: true), FunctionParam.Bool("keepdims")],
            c => c.Tensor("x").PNorm(c.Has("p") ? c.Number("p") : 2, c.Ints("axis"), c.Bool("keepdims"))));

        // Linear-chain CRF ops (Structured/Crf.cs): the optional start, end and lengths operands print as named arguments.
        FunctionParam[] crfOptional = [FunctionParam.Tensor("start", optional: true), FunctionParam.Tensor("end", optional: true), FunctionParam.Tensor("lengths", optional: true)];
        FunctionParam[] crf = [FunctionParam.Tensor("emissions"), FunctionParam.Tensor("transitions"), .. crfOptional];
        Register(new("crf_log_likelihood", [FunctionParam.Tensor("emissions"), FunctionParam.Tensor("transitions"), FunctionParam.Tensor("tags"), .. crfOptional],
            c => c.Tensor("emissions").CrfLogLikelihood(c.Tensor("transitions"), c.Tensor("tags"), c.OptionalTensor("start"), c.OptionalTensor("end"), c.OptionalTensor("lengths"))));
        Register(new("crf_log_partition", crf,
            c => c.Tensor("emissions").CrfLogPartition(c.Tensor("transitions"), c.OptionalTensor("start"), c.OptionalTensor("end"), c.OptionalTensor("lengths"))));
        Register(new("crf_viterbi", crf,
            c => c.Tensor("emissions").CrfViterbi(c.Tensor("transitions"), c.OptionalTensor("start"), c.OptionalTensor("end"), c.OptionalTensor("lengths"))));
        Register(new("crf_viterbi_score", crf,
            c => c.Tensor("emissions").CrfViterbiScore(c.Tensor("transitions"), c.OptionalTensor("start"), c.OptionalTensor("end"), c.OptionalTensor("lengths"))));
        foreach (var part in Enum.GetValues<CrfPart>())
        {
            Register(new(new CrfMarginalsOp(part).Name, crf,
                c => c.Tensor("emissions").CrfMarginals(c.Tensor("transitions"), c.OptionalTensor("start"), c.OptionalTensor("end"), c.OptionalTensor("lengths"), part)));
            Register(new(new CrfPathMarginalsOp(part, 1, DType.F32).Name,
                [FunctionParam.Tensor("tags"), FunctionParam.Tensor("lengths", optional: true), FunctionParam.Int("classes"), FunctionParam.DType("dtype")],
                c => c.Tensor("tags").CrfPathMarginals(c.Int("classes"), c.DType("dtype", c.DefaultFloat), c.OptionalTensor("lengths"), part)));
        }

        // A constant of an explicit element type; the printer writes constant(v, dtype=...) where a bare literal would
        // be given another type by the weak typing rule (or for i64 constants).
        Register(new("constant", [FunctionParam.Number("value"), FunctionParam.DType("dtype")], c =>
        {
            double v = c.Number("value");
            var t = c.DType("dtype", c.DefaultFloat);
            if (t == DType.I64 && (double.IsNaN(v) || double.IsInfinity(v) || Math.Round(v) != v))
                throw new AutodiffException($"constant: an i64 constant must be an integer, got {Tensor.FormatNumber(v, DType.F64)}");
            return c.Builder.Constant(v, t);
        }));
    }

    /// <summary>Registered names within edit distance 2 of <paramref name="name"/>, closest first (at most 3).</summary>
    internal static IReadOnlyList<string> Suggest(string name) => Syntax.Closest(name, Table.Keys);
}
