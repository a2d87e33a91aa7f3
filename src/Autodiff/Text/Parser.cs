namespace Autodiff.Text;

/// <summary>Parses programs of the expression language into graphs:
/// <code>
/// input z: f32[64, 10]
/// input y: f32[64, 10] probs(axis=1)
/// e = exp(z)
/// q = e / sum(e, axis=1, keepdims=true)
/// loss = -mean(sum(y * log(q), axis=1))
/// output loss
/// </code>
/// One statement per line: <c>input NAME: TYPE[dims] facts</c>, <c>NAME = EXPR</c> or <c>output NAME</c> (optional; the
/// default is the last assignment). Operators, lowest precedence first: <c>+ -</c>; <c>* / @</c>; unary <c>-</c>;
/// <c>^</c> (right associative). The functions are those of <see cref="Functions"/>. Number literals are weakly typed:
/// they take the float type of the expression they are combined with, or the program's default float type (that of
/// the first float input, else f32) when they stand alone. Every error is a <see cref="ParseException"/> with a position.</summary>
public static class Parser
{
    /// <summary>Deepest nesting of parentheses, calls and prefix operators accepted in one expression (the parser is
    /// recursive there; long chains of binary operators are not nested and have no limit).</summary>
    public const int MaxNesting = 256;

    /// <summary>Parses <paramref name="text"/> into a new graph in a new <see cref="GraphBuilder"/>. Assigned names
    /// become <see cref="Graph.Names"/> (the first name wins when two assignments build the same node; inputs keep their
    /// own names).</summary>
    /// <remarks>Where each node was written is <see cref="GraphBuilder.PositionOf"/> of the graph's builder.</remarks>
    public static Graph Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var syntax = new SyntaxParser(Lexer.Tokenize(text));
        var program = syntax.ParseProgram();
        var evaluator = new Evaluator(program, syntax.EndLine, syntax.EndCol);
        return evaluator.Run();
    }
}

/// <summary>Recursive-descent parser from tokens to statements and expression trees.</summary>
internal sealed class SyntaxParser(List<Token> tokens)
{
    private int _pos;
    private int _depth;

    public int EndLine => tokens[^1].Line;
    public int EndCol => tokens[^1].Col;

    internal Token Peek(int ahead = 0)
    {
        int limit = _pos + ahead;
        // An error token is reported as soon as the parser looks at or past it.
        for (int i = _pos; i <= limit && i < tokens.Count; i++)
            if (tokens[i].Kind == TokenKind.Error) throw new ParseException(tokens[i].Line, tokens[i].Col, tokens[i].Text);
        return tokens[Math.Min(limit, tokens.Count - 1)];
    }

    private Token Next()
    {
        var t = Peek();
        if (_pos < tokens.Count - 1) _pos++;
        return t;
    }

    private static ParseException Error(Token at, string message) => new(at.Line, at.Col, message);

    private Token Expect(char c, string message)
    {
        var t = Peek();
        if (!t.Is(c)) throw Error(t, $"{message}, found {t.Describe()}");
        return Next();
    }

    private Token ExpectIdent(string what)
    {
        var t = Peek();
        if (t.Kind != TokenKind.Ident) throw Error(t, $"expected {what}, found {t.Describe()}");
        return Next();
    }

    private static void CheckName(Token name)
    {
        if (Syntax.Reserved.Contains(name.Text)) throw Error(name, $"'{name.Text}' is a reserved word and cannot be used as a name");
    }

    public List<Statement> ParseProgram()
    {
        var statements = new List<Statement>();
        while (true)
        {
            while (Peek().Kind == TokenKind.Newline) Next();
            var t = Peek();
            if (t.Kind == TokenKind.End) return statements;
            if (t.IsIdent("input")) statements.Add(ParseInput());
            else if (t.IsIdent("output"))
            {
                Next();
                var name = ExpectIdent("a name after 'output'");
                var names = new List<(string Name, int Line, int Col)> { (name.Text, name.Line, name.Col) };
                while (Peek().Is(','))
                {
                    Next();
                    var more = ExpectIdent("a name after ',' in the output list");
                    names.Add((more.Text, more.Line, more.Col));
                }
                statements.Add(new OutputStatement(name.Line, name.Col, names));
            }
            else if (t.Kind == TokenKind.Ident)
            {
                Next();
                if (!Peek().Is('='))
                    throw Error(Peek(), $"expected '=' after '{t.Text}' (a statement is 'input NAME: TYPE[dims]', 'NAME = EXPR' or 'output NAME'), found {Peek().Describe()}");
                CheckName(t);
                Next();
                statements.Add(new AssignStatement(t.Line, t.Col, t.Text, ParseExpr()));
            }
            else throw Error(t, $"expected a statement ('input NAME: TYPE[dims]', 'NAME = EXPR' or 'output NAME'), found {t.Describe()}");

            var end = Peek();
            if (end.Kind is not (TokenKind.Newline or TokenKind.End))
                throw Error(end, $"expected end of line after the statement, found {end.Describe()}");
        }
    }

    // ---- input declarations ----

    private InputStatement ParseInput()
    {
        Next();
        var name = ExpectIdent("an input name after 'input'");
        CheckName(name);
        Expect(':', $"expected ':' and a type after the input name '{name.Text}'");
        var typeTok = ExpectIdent("an element type (f32, f64 or i64)");
        var type = typeTok.Text switch
        {
            "f32" => DType.F32,
            "f64" => DType.F64,
            "i64" => DType.I64,
            _ => throw Error(typeTok, $"unknown element type '{typeTok.Text}'; expected f32, f64 or i64"),
        };
        var open = Expect('[', $"expected '[' and the dimensions after the element type, e.g. {typeTok.Text}[64, 10]");
        var dims = new List<int>();
        if (!Peek().Is(']'))
        {
            while (true)
            {
                dims.Add(ParseInt("a dimension", allowNegative: false));
                if (Peek().Is(',')) { Next(); continue; }
                if (Peek().Is(']')) break;
                throw Error(Peek(), $"expected ',' or ']' in the shape of '{name.Text}', found {Peek().Describe()}");
            }
        }
        Next();
        if (Shape.SizeError(dims.ToArray()) is { } error) throw Error(open, $"input '{name.Text}': shape {Shape.Format(dims.ToArray())} {error}");

        int? probs = null, classes = null;
        bool positive = false;
        var seen = new HashSet<string>();
        while (Peek().Kind == TokenKind.Ident)
        {
            var f = Next();
            if (f.Text is "probs" or "classes" or "positive" && !seen.Add(f.Text)) throw Error(f, $"fact '{f.Text}' is given twice");
            switch (f.Text)
            {
                case "probs":
                {
                    Expect('(', "expected '(' after 'probs', as in probs(axis=1)");
                    if (Peek().IsIdent("axis"))
                    {
                        Next();
                        Expect('=', "expected '=' after 'axis' in probs(axis=A)");
                    }
                    var at = Peek();
                    int axis = ParseInt("an axis", allowNegative: true);
                    Expect(')', "expected ')' to close probs(axis=A)");
                    if (!type.IsFloat()) throw Error(f, $"probs: input '{name.Text}' is {type.Name()}, but probabilities must be f32 or f64");
                    int r = dims.Count;
                    if (axis < -r || axis >= r) throw Error(at, $"probs: axis {axis} is out of range for input '{name.Text}' of shape {Shape.Format(dims.ToArray())} (rank {r})");
                    probs = axis < 0 ? axis + r : axis;
                    break;
                }
                case "classes":
                {
                    Expect('(', "expected '(' after 'classes', as in classes(10)");
                    var at = Peek();
                    int count = ParseInt("the number of classes", allowNegative: true);
                    Expect(')', "expected ')' to close classes(C)");
                    if (type != DType.I64) throw Error(f, $"classes: input '{name.Text}' is {type.Name()}, but class indices must be i64");
                    if (count < 1) throw Error(at, $"classes: the number of classes must be at least 1, found {count}");
                    classes = count;
                    break;
                }
                case "positive":
                    positive = true;
                    break;
                default:
                    throw Error(f, $"unknown fact '{f.Text}'; expected probs(axis=A), classes(C) or positive"
                        + Syntax.DidYouMean(Syntax.Closest(f.Text, ["probs", "classes", "positive"])));
            }
        }
        return new InputStatement(name.Line, name.Col, name.Text, type, dims.ToArray(), new InputFacts(probs, classes, positive));
    }

    /// <summary>An integer literal, optionally with a leading minus.</summary>
    private int ParseInt(string what, bool allowNegative)
    {
        var start = Peek();
        bool neg = false;
        if (start.Is('-'))
        {
            Next();
            neg = true;
        }
        var t = Peek();
        if (t.Kind != TokenKind.Number || !Lexer.IsIntegerText(t.Text))
            throw Error(t, $"expected {what} (an integer), found {t.Describe()}");
        Next();
        if (neg && !allowNegative) throw Error(start, $"{what} must be non-negative, found -{t.Text}");
        if (!long.TryParse(t.Text, out long v) || (neg ? -v : v) is < int.MinValue or > int.MaxValue)
            throw Error(start, $"{what} {(neg ? "-" : "")}{t.Text} is out of range");
        return (int)(neg ? -v : v);
    }

    // ---- expressions ----

    public Ast ParseExpr()
    {
        var left = ParseTerm();
        while (Peek().Is('+') || Peek().Is('-'))
        {
            var op = Next();
            left = new BinAst(op.Line, op.Col, op.Text[0], left, ParseTerm());
        }
        return left;
    }

    private Ast ParseTerm()
    {
        var left = ParseUnary();
        while (Peek().Is('*') || Peek().Is('/') || Peek().Is('@'))
        {
            var op = Next();
            left = new BinAst(op.Line, op.Col, op.Text[0], left, ParseUnary());
        }
        return left;
    }

    private Ast ParseUnary()
    {
        var t = Peek();
        if (++_depth > Parser.MaxNesting) throw Error(t, $"expression is nested too deeply (more than {Parser.MaxNesting} levels)");
        try
        {
            if (!t.Is('-')) return ParsePower();
            Next();
            var operand = ParseUnary();
            // A minus written directly before a number literal (not parenthesized, not already negated) is part of it.
            if (operand is NumAst { Parens: false, Folded: false } n)
                return new NumAst(t.Line, t.Col, -n.Number, n.IsInt, folded: true, "-" + n.Text);
            return new NegAst(t.Line, t.Col, operand);
        }
        finally { _depth--; }
    }

    /// <summary>The value of a number token, or an error quoting it when it is beyond f64's range (instead of a silent
    /// infinity) or so small that it rounds to 0.</summary>
    private static double Literal(Token t)
    {
        double v = Lexer.Value(t.Text);
        if (double.IsInfinity(v))
            throw new ParseException(t.Line, t.Col, $"the number {t.Text} is out of the range of f64 (at most 1.7976931348623157E+308); write inf for an infinity");
        if (v == 0 && t.Text.TakeWhile(c => c is not ('e' or 'E')).Any(c => c is >= '1' and <= '9'))
            throw new ParseException(t.Line, t.Col, $"the number {t.Text} is too small for f64: it rounds to 0 (the smallest is 5E-324)");
        return v;
    }

    private Ast ParsePower()
    {
        var atom = ParseAtom();
        if (!Peek().Is('^')) return atom;
        var op = Next();
        return new BinAst(op.Line, op.Col, '^', atom, ParseUnary());
    }

    private Ast ParseAtom()
    {
        var t = Peek();
        switch (t.Kind)
        {
            case TokenKind.Number:
                Next();
                return new NumAst(t.Line, t.Col, Literal(t), Lexer.IsIntegerText(t.Text), folded: false, t.Text);
            case TokenKind.Ident:
                Next();
                switch (t.Text)
                {
                    case "inf": return new NumAst(t.Line, t.Col, double.PositiveInfinity, false, folded: false, "inf");
                    case "nan": return new NumAst(t.Line, t.Col, double.NaN, false, folded: false, "nan");
                    case "true": return new BoolAst(t.Line, t.Col, true);
                    case "false": return new BoolAst(t.Line, t.Col, false);
                }
                return Peek().Is('(') ? ParseCall(t) : new NameAst(t.Line, t.Col, t.Text);
            case TokenKind.Punct when t.Is('('):
            {
                Next();
                if (Peek().Is(')'))
                {
                    Next();
                    return new TupleAst(t.Line, t.Col, []);
                }
                var first = ParseExpr();
                if (Peek().Is(','))
                {
                    var items = new List<Ast> { first };
                    while (Peek().Is(','))
                    {
                        Next();
                        if (Peek().Is(')')) break;
                        items.Add(ParseExpr());
                    }
                    Expect(')', $"expected ')' to close the tuple opened at {t.Line}:{t.Col}");
                    return new TupleAst(t.Line, t.Col, items);
                }
                Expect(')', $"expected ')' to close '(' opened at {t.Line}:{t.Col}");
                first.Parens = true;
                return first;
            }
            default:
                throw Error(t, $"expected an expression, found {t.Describe()}");
        }
    }

    private CallAst ParseCall(Token name)
    {
        if (!Functions.TryGet(name.Text, out var spec))
            throw Error(name, $"unknown function '{name.Text}'" + Syntax.DidYouMean(Functions.Suggest(name.Text)));
        Next(); // '('
        var ps = spec.Parameters;
        var args = new Ast?[ps.Count];
        int positional = 0;
        bool named = false;
        if (!Peek().Is(')'))
        {
            while (true)
            {
                var at = Peek();
                if (at.Kind == TokenKind.Ident && Peek(1).Is('='))
                {
                    Next();
                    Next();
                    int i = spec.IndexOf(at.Text);
                    if (i < 0)
                        throw Error(at, $"'{spec.Name}' has no argument '{at.Text}'"
                            + Syntax.DidYouMean(Syntax.Closest(at.Text, ps.Select(p => p.Name)))
                            + $" (it takes {spec.Signature})");
                    if (args[i] is not null) throw Error(at, $"argument '{at.Text}' of '{spec.Name}' is given twice");
                    args[i] = ParseExpr();
                    named = true;
                }
                else
                {
                    if (named) throw Error(at, $"a positional argument follows a named one in the call to '{spec.Name}'");
                    if (positional >= ps.Count) throw Error(at, $"too many arguments in the call to '{spec.Name}' (it takes {spec.Signature})");
                    args[positional++] = ParseExpr();
                }
                if (Peek().Is(','))
                {
                    Next();
                    if (Peek().Is(')')) break;
                    continue;
                }
                if (Peek().Is(')')) break;
                throw Error(Peek(), $"expected ')' to close the call to '{spec.Name}', found {Peek().Describe()}");
            }
        }
        Next(); // ')'
        for (int i = 0; i < ps.Count; i++)
            if (args[i] is null && !ps[i].Optional)
                throw Error(name, $"the call to '{spec.Name}' is missing argument '{ps[i].Name}' (it takes {spec.Signature})");
        return new CallAst(name.Line, name.Col, spec, args);
    }
}
