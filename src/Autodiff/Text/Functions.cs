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
/// <para>The built-in functions are declared by the op types themselves (<see cref="IOpFunctions"/>, next to each op's
/// shape rule, kernels and gradient) and collected here by reflection; <c>docs/extending.md</c> shows how to add an op.
/// <see cref="Register"/> adds a function from outside the library (before parsing), for instance one that composes
/// existing ops:</para>
/// <code>
/// Functions.Register(new("swish", [FunctionParam.Tensor("x")], a => a.Tensor("x") * a.Tensor("x").Sigmoid()));
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
        foreach (var spec in OpRegistry.AllFunctions()) Add(t, spec);
        return t;
    }

    /// <summary>Registered names within edit distance 2 of <paramref name="name"/>, closest first (at most 3).</summary>
    internal static IReadOnlyList<string> Suggest(string name) => Syntax.Closest(name, Table.Keys);
}
