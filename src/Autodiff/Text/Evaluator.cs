namespace Autodiff.Text;

/// <summary>Builds a graph from parsed statements. Expression trees are walked iteratively (a long chain such as
/// <c>x + 1 + 1 + ...</c> is a deep left spine), in three steps per expression: mark the subtrees made only of number
/// literals (weak), build the others bottom-up, and build each weak subtree with the float type of its context — the
/// first non-literal float operand of the enclosing operator or call, or the program's default float type.</summary>
internal sealed class Evaluator(List<Statement> program, int endLine, int endCol)
{
    private readonly GraphBuilder _builder = new();
    private readonly Dictionary<string, (Expr Value, int Line)> _env = new(StringComparer.Ordinal);
    private DType _default = DType.F32;

    public Graph Run()
    {
        _default = program.OfType<InputStatement>().Select(s => s.Type).Where(t => t.IsFloat()).DefaultIfEmpty(DType.F32).First();
        var names = new Dictionary<Node, string>(ReferenceEqualityComparer.Instance);
        Node? last = null;
        List<(string Name, Expr Value)>? outputs = null;
        int outputLine = 0;
        foreach (var statement in program)
        {
            switch (statement)
            {
                case InputStatement s:
                {
                    CheckUndefined(s.Name, s.Line, s.Col);
                    var value = Wrap("input", s.Line, s.Col, () => _builder.Input(s.Name, s.Type, new Shape(s.Dims), s.Facts));
                    _env[s.Name] = (value, s.Line);
                    break;
                }
                case AssignStatement s:
                {
                    CheckUndefined(s.Name, s.Line, s.Col);
                    var value = Evaluate(s.Expr);
                    _env[s.Name] = (value, s.Line);
                    if (value.Node.Op is not InputOp) names.TryAdd(value.Node, s.Name);
                    last = value.Node;
                    break;
                }
                case OutputStatement s:
                    if (outputs is not null) throw new ParseException(s.Line, s.Col, $"the output is already given on line {outputLine}");
                    outputs = [];
                    foreach (var (name, line, col) in s.Names)
                    {
                        if (outputs.Any(o => o.Name == name)) throw new ParseException(line, col, $"'{name}' is already in the output list");
                        outputs.Add((name, Lookup(name, line, col)));
                    }
                    outputLine = s.Line;
                    break;
            }
        }
        if (outputs is { Count: > 1 }) return _builder.Build(outputs, names);
        var output = outputs?[0].Value.Node ?? last ?? throw new ParseException(endLine, endCol, "the program has no assignment, so it has no result");
        return _builder.Build(output.Expr, names);
    }

    private void CheckUndefined(string name, int line, int col)
    {
        if (_env.TryGetValue(name, out var prev)) throw new ParseException(line, col, $"'{name}' is already defined on line {prev.Line}");
    }

    private Expr Lookup(string name, int line, int col) =>
        _env.TryGetValue(name, out var v) ? v.Value
        : throw new ParseException(line, col, $"unknown name '{name}'" + Syntax.DidYouMean(Syntax.Closest(name, _env.Keys)));

    private static List<Ast> PostOrder(Ast root)
    {
        var list = new List<Ast>();
        var stack = new Stack<(Ast Node, bool Expanded)>();
        stack.Push((root, false));
        while (stack.Count > 0)
        {
            var (n, expanded) = stack.Pop();
            if (expanded) { list.Add(n); continue; }
            stack.Push((n, true));
            var operands = n.Operands;
            for (int i = operands.Length - 1; i >= 0; i--) stack.Push((operands[i], false));
        }
        return list;
    }

    private Expr Evaluate(Ast root)
    {
        var order = PostOrder(root);
        foreach (var n in order)
            n.Weak = n switch
            {
                NumAst => true,
                NegAst g => g.Operand.Weak,
                BinAst b => b.Left.Weak && b.Right.Weak,
                CallAst c => c.Operands.Length > 0 && Array.TrueForAll(c.Operands, o => o.Weak),
                _ => false,
            };
        foreach (var n in order)
        {
            if (n.Weak) continue;
            var operands = n.Operands;
            if (Array.Exists(operands, o => o.Weak))
            {
                var context = _default;
                foreach (var o in operands)
                    if (!o.Weak && o.Value!.Value.DType.IsFloat()) { context = o.Value.Value.DType; break; }
                foreach (var o in operands) if (o.Weak) Materialize(o, context);
            }
            n.Value = Build(n, DType.F32);
        }
        if (root.Weak) Materialize(root, _default);
        return root.Value!.Value;
    }

    /// <summary>Builds a subtree made only of literals, every literal becoming a constant of <paramref name="type"/>.</summary>
    private void Materialize(Ast root, DType type)
    {
        foreach (var n in PostOrder(root))
        {
            n.Value = Build(n, type);
        }
    }

    private Expr Build(Ast n, DType literalType)
    {
        switch (n)
        {
            case NumAst num:
                if (literalType == DType.F32 && FloatRangeError(num) is { } error) throw new ParseException(num.Line, num.Col, error);
                return _builder.Constant(num.Number, literalType);
            case NameAst name:
                return Lookup(name.Name, n.Line, n.Col);
            case NegAst neg:
            {
                var x = neg.Operand.Value!.Value;
                return Wrap("neg", n.Line, n.Col, () => -x);
            }
            case BinAst bin:
            {
                Expr a = bin.Left.Value!.Value, b = bin.Right.Value!.Value;
                return Wrap(bin.OpName, n.Line, n.Col, () => bin.Op switch
                {
                    '+' => a + b,
                    '-' => a - b,
                    '*' => a * b,
                    '/' => a / b,
                    '@' => a.MatMul(b),
                    _ => a.Pow(b),
                });
            }
            case CallAst call:
            {
                var spec = call.Spec;
                var values = new object?[call.Args.Length];
                for (int i = 0; i < values.Length; i++)
                    if (call.Args[i] is { } arg) values[i] = Convert(spec, spec.Parameters[i], arg);
                var args = new CallArgs(spec, values, _builder, _default);
                return Wrap(spec.Name, n.Line, n.Col, () => spec.Build(args));
            }
            default:
                throw new ParseException(n.Line, n.Col, $"expected a tensor expression, found {n.Describe()}");
        }
    }

    private object Convert(FunctionSpec spec, FunctionParam p, Ast arg)
    {
        switch (p.Kind)
        {
            case ArgKind.Tensor:
                return p.IntegerLiterals && arg is NumAst { Number: var v } && v == Math.Floor(v) && Math.Abs(v) <= 9007199254740992
                    ? _builder.Constant(v, DType.I64)
                    : arg.Value!.Value;
            case ArgKind.Int:
                return AsInt(arg) ?? throw Bad("an integer");
            case ArgKind.Ints:
                if (AsInt(arg) is int single) return new[] { single };
                if (arg is TupleAst tuple)
                {
                    var r = new int[tuple.Items.Count];
                    for (int i = 0; i < r.Length; i++)
                        r[i] = AsInt(tuple.Items[i]) ?? throw Bad("an integer or a tuple of integers", tuple.Items[i]);
                    return r;
                }
                throw Bad("an integer or a tuple of integers");
            case ArgKind.Bool:
                return arg is BoolAst b ? b.Flag : throw Bad("true or false");
            case ArgKind.DType:
                return arg is NameAst { Name: "f32" or "f64" or "i64" } t
                    ? t.Name switch { "f32" => DType.F32, "f64" => DType.F64, _ => DType.I64 }
                    : throw Bad("an element type (f32, f64 or i64)");
            default:
                return arg is NumAst num ? num.Number : throw Bad("a number");
        }

        ParseException Bad(string what, Ast? at = null)
        {
            at ??= arg;
            string found = at is NumAst { IsInt: true } n && Math.Abs(n.Number) > int.MaxValue ? $"{at.Describe()} (out of range)" : at.Describe();
            return new ParseException(at.Line, at.Col, $"argument '{p.Name}' of '{spec.Name}' must be {what}, found {found}");
        }
    }

    private static int? AsInt(Ast a) =>
        a is NumAst { IsInt: true } n && n.Number >= int.MinValue && n.Number <= int.MaxValue ? (int)n.Number : null;

    /// <summary>Why a finite, non-zero literal has no f32 value (it rounds to ±inf or to 0), or null.</summary>
    private static string? FloatRangeError(NumAst num)
    {
        float f = (float)num.Number;
        if (float.IsInfinity(f) && double.IsFinite(num.Number))
            return $"the number {num.Text} is out of the range of f32 (at most 3.4028235E+38); write inf for an infinity, or use f64";
        if (f == 0 && num.Number != 0)
            return $"the number {num.Text} is too small for f32: it rounds to 0 (the smallest is 1E-45); use f64";
        return null;
    }

    /// <summary>Runs a builder call, reporting any error it raises (a shape error names the op and the shapes) at the call,
    /// and records the call's position and function name on the nodes it created (see <see cref="GraphBuilder.PositionOf"/>).</summary>
    private Expr Wrap(string op, int line, int col, Func<Expr> build)
    {
        try
        {
            var result = build();
            _builder.MarkPosition(result.Node, new SourcePosition(line, col, op));
            return result;
        }
        catch (ParseException)
        {
            throw;
        }
        catch (ShapeException e)
        {
            throw new ParseException(line, col, e.Message);
        }
        catch (AutodiffException e)
        {
            throw new ParseException(line, col, e.Message.StartsWith(op + ":", StringComparison.Ordinal) ? e.Message : $"{op}: {e.Message}");
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or ArithmeticException
                                      or IndexOutOfRangeException or NotSupportedException or InvalidCastException or NullReferenceException)
        {
            throw new ParseException(line, col, $"{op}: {e.Message} ({e.GetType().Name})");
        }
    }
}
