using System.Text.RegularExpressions;
using Autodiff.Text;

namespace Autodiff.Rewrite;

/// <summary>A rules file could not be read, or one of its rules is unsound. The message starts with the location:
/// <c>file:line:column: reason</c> for a syntax or type mistake, <c>file:line: rule NAME (LHS => RHS) changes the value: …</c>
/// for a rule the soundness check refutes.</summary>
public sealed class RuleException : AutodiffException
{
    internal RuleException(string file, int line, int? column, string reason)
        : base(column is int c ? $"{file}:{line}:{c}: {reason}" : $"{file}:{line}: {reason}")
    {
        File = file;
        Line = line;
        Column = column;
        Reason = reason;
    }

    /// <summary>The file name used in the message.</summary>
    public string File { get; }

    /// <summary>The 1-based line.</summary>
    public int Line { get; }

    /// <summary>The 1-based column, or null for a message about the whole rule.</summary>
    public int? Column { get; }

    /// <summary>The message without the location.</summary>
    public string Reason { get; }
}

/// <summary>Reads rules: <c>rule NAME: LHS => RHS [if|when PREDICATE(args) [and PREDICATE(args)]…]…</c>, one a line.</summary>
internal static partial class RuleFile
{
    [GeneratedRegex(@"^rule\s+([A-Za-z_][A-Za-z0-9_\-]*)\s*:")]
    private static partial Regex Header();

    [GeneratedRegex(@"\b(if|when)\b")]
    private static partial Regex Clause();

    public static RuleSet Parse(string text, string file, bool checkSoundness)
    {
        ArgumentNullException.ThrowIfNull(text);
        var rules = new List<Rule>();
        var lines = text.Split('\n');
        for (int l = 0; l < lines.Length; l++)
        {
            string line = lines[l].TrimEnd('\r');
            int hash = line.IndexOf('#');
            string code = hash >= 0 ? line[..hash] : line;
            if (code.Trim().Length == 0) continue;
            int indent = code.Length - code.TrimStart().Length;
            var h = Header().Match(code[indent..]);
            if (!h.Success)
                throw new RuleException(file, l + 1, indent + 1, code.TrimStart().StartsWith("rule", StringComparison.Ordinal)
                    ? "expected a rule name and ':' after 'rule' (names are letters, digits, '_' and '-')"
                    : "expected 'rule NAME: LHS => RHS [if PREDICATE(args)]'");
            string name = h.Groups[1].Value;
            int bodyStart = indent + h.Length;
            PatternRule rule;
            try
            {
                rule = Body(name, code, bodyStart);
            }
            catch (ParseException e)
            {
                throw new RuleException(file, l + 1, e.Column, e.Reason);
            }
            if (checkSoundness && RuleSoundness.Check(rule) is string refuted)
                throw new RuleException(file, l + 1, null, $"rule {name} ({rule.Text}) {refuted}");
            rules.Add(rule.ToRule());
        }
        return new RuleSet("user", rules);
    }

    /// <summary>Reads <c>LHS => RHS [if …]</c> standing alone (positions on line 1).</summary>
    public static PatternRule ParseBody(string name, string text, RuleSharing sharing, bool ordered) => Body(name, text, 0, sharing, ordered);

    /// <summary>Reads the body of a rule that starts at <paramref name="start"/> in <paramref name="line"/>; a
    /// <see cref="ParseException"/>'s column counts from the start of the line.</summary>
    private static PatternRule Body(string name, string line, int start, RuleSharing sharing = RuleSharing.Guard, bool ordered = false)
    {
        int arrow = line.IndexOf("=>", start, StringComparison.Ordinal);
        if (arrow < 0) throw new ParseException(1, line.Length + 1, "expected '=>' between the left and the right side");
        var cond = Clause().Match(line, arrow + 2);
        int rhsEnd = cond.Success ? cond.Index : line.Length;
        var nodeVars = new Dictionary<string, int>(StringComparer.Ordinal);
        var attrVars = new Dictionary<string, int>(StringComparer.Ordinal);
        var lhsAst = Expression(line, start, arrow, "left side");
        var lhs = Patterns.FromAst(lhsAst, nodeVars, attrVars, define: true);
        if (lhs is not CallPat) throw new ParseException(1, lhsAst.Col, "the left side must be an operation (a call or an operator), not a lone variable or number");
        var rhs = Patterns.FromAst(Expression(line, arrow + 2, rhsEnd, "right side"), nodeVars, attrVars, define: false);
        var conditions = cond.Success ? Conditions(line, cond.Index, nodeVars, attrVars) : [];
        string text = Collapse(line[start..arrow]) + " => " + Collapse(line[(arrow + 2)..rhsEnd])
                      + (cond.Success ? " " + Collapse(line[cond.Index..]) : "");
        return new PatternRule(name, text, lhs, rhs, conditions,
            nodeVars.OrderBy(p => p.Value).Select(p => p.Key).ToArray(), attrVars.OrderBy(p => p.Value).Select(p => p.Key).ToArray(), sharing, ordered);
    }

    private static string Collapse(string s) => Regex.Replace(s.Trim(), @"\s+", " ");

    /// <summary>Parses <c>line[from..to]</c> as one expression; positions are shifted to the line's columns.</summary>
    private static Ast Expression(string line, int from, int to, string what)
    {
        var tokens = Shift(Lexer.Tokenize(line[from..to]), from);
        if (tokens[0].Kind == TokenKind.End) throw new ParseException(1, from + 1, $"the {what} is empty");
        var parser = new SyntaxParser(tokens);
        var ast = parser.ParseExpr();
        var end = parser.Peek();
        if (end.Kind != TokenKind.End) throw new ParseException(1, end.Col, $"expected the end of the {what}, found {end.Describe()}");
        return ast;
    }

    private static List<Token> Shift(List<Token> tokens, int by) => tokens.Select(t => t with { Col = t.Col + by }).ToList();

    /// <summary>The clauses after the right side, each <c>if</c> or <c>when</c> followed by predicates joined by <c>and</c>:
    /// an <c>if</c> predicate that fails is reported as a near miss (when it reports at all), a <c>when</c> predicate that
    /// fails means the rule does not match, silently.</summary>
    private static Condition[] Conditions(string line, int from, Dictionary<string, int> nodeVars, Dictionary<string, int> attrVars)
    {
        var t = Shift(Lexer.Tokenize(line[from..]), from);
        int pos = 0;
        var list = new List<Condition>();
        bool quiet = false;
        string keyword = "if";
        while (true)
        {
            if (t[pos].IsIdent("if") || t[pos].IsIdent("when"))
            {
                keyword = t[pos].Text;
                quiet = keyword == "when";
                pos++;
            }
            var name = t[pos];
            if (name.Kind != TokenKind.Ident) throw new ParseException(1, name.Col, $"expected a predicate after '{keyword}', found {name.Describe()}");
            if (!Predicates.TryGet(name.Text, out var predicate))
                throw new ParseException(1, name.Col, $"unknown predicate '{name.Text}'"
                    + Syntax.DidYouMean(Syntax.Closest(name.Text, Predicates.All.Select(p => p.Name)))
                    + $" (the predicates are {string.Join(", ", Predicates.All.Select(p => p.Name))})");
            pos++;
            if (!t[pos].Is('(')) throw new ParseException(1, t[pos].Col, $"expected '(' after '{name.Text}', found {t[pos].Describe()}");
            pos++;
            var args = new List<(string?, double?)>();
            while (!t[pos].Is(')'))
            {
                if (args.Count > 0)
                {
                    if (!t[pos].Is(',')) throw new ParseException(1, t[pos].Col, $"expected ',' or ')' in the call to '{name.Text}', found {t[pos].Describe()}");
                    pos++;
                }
                if (t[pos].Kind == TokenKind.Ident && t[pos + 1].Is('=')) pos += 2;   // a named argument: the name is documentation
                var a = t[pos];
                int i = args.Count;
                if (i >= predicate.Params.Length) throw new ParseException(1, a.Col, $"too many arguments to '{predicate.Signature}'");
                bool wantNode = predicate.Params[i].Node;
                bool neg = a.Is('-');
                if (neg) a = t[++pos];
                if (a.Kind == TokenKind.Number && !wantNode) args.Add((null, (neg ? -1 : 1) * Lexer.Value(a.Text)));
                else if (a.Kind == TokenKind.Ident && !neg)
                {
                    if (wantNode && !nodeVars.ContainsKey(a.Text) || !wantNode && !attrVars.ContainsKey(a.Text))
                        throw new ParseException(1, a.Col, $"argument {i + 1} of '{predicate.Signature}' must be {(wantNode ? "an operand" : "an attribute")} variable of the left side, found '{a.Text}'");
                    args.Add((a.Text, null));
                }
                else throw new ParseException(1, a.Col, $"expected a variable{(wantNode ? "" : " or a number")} as argument {i + 1} of '{predicate.Signature}', found {a.Describe()}");
                pos++;
            }
            if (args.Count != predicate.Params.Length)
                throw new ParseException(1, t[pos].Col, $"'{predicate.Signature}' takes {predicate.Params.Length} argument{(predicate.Params.Length == 1 ? "" : "s")}, found {args.Count}");
            list.Add(new Condition(predicate, args.ToArray(), name.Col, quiet));
            pos++;
            if (t[pos].Kind == TokenKind.End) return list.ToArray();
            if (t[pos].IsIdent("if") || t[pos].IsIdent("when")) continue;
            if (!t[pos].IsIdent("and")) throw new ParseException(1, t[pos].Col, $"expected 'and', 'if', 'when' or the end of the rule, found {t[pos].Describe()}");
            pos++;
        }
    }
}
