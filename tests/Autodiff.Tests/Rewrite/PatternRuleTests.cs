using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Tests.Rewrite;

/// <summary>Rules written as patterns: the matcher (variables, repeated variables, attributes, commutative operands,
/// shapes), users' rules files (syntax errors located by line and column), and the soundness check that refuses a rule
/// with a counterexample.</summary>
public class PatternRuleTests
{
    private static SimplifyResult Run(string rules, string program) =>
        Simplifier.Simplify(Parser.Parse(program), new SimplifyOptions(UserRules: RuleSet.Parse(rules, "rules.txt")));

    private const string X = "input x: f64[4, 3]\ninput y: f64[4, 3]\n";

    [Fact]
    public void UserRuleFiresAndIsNamedInTheTrace()
    {
        var r = Run("rule square-self: x * x => square(x)", X + "r = x * x + y");
        Assert.Contains(r.Rewrites, s => s.Rule == "square-self" && s.Before == "x * x" && s.After == "square(x)");
        Assert.Equal("square(x) + y", Printer.PrintExpression(r.After.Output));
    }

    [Fact]
    public void RepeatedVariableMeansTheSameNode()
    {
        var r = Run("rule square-self: x * x => square(x)", X + "r = x * y");
        Assert.Empty(r.Rewrites);
    }

    [Theory]
    [InlineData("r = x * 2")]
    [InlineData("r = 2 * x")]
    public void CommutativeOperandsMatchInEitherOrder(string line)
    {
        var r = Run("rule twice: x * 2 => x + x", X + line);
        Assert.Equal("x + x", Printer.PrintExpression(r.After.Output));
    }

    [Fact]
    public void AttributeVariablesBindAndRebuild()
    {
        var r = Run("rule lse: log(sum(exp(x), axis=a, keepdims=k)) => logsumexp(x, axis=a, keepdims=k)",
            X + "r = log(sum(exp(x), axis=0, keepdims=true))");
        // the built-in logsumexp rule fires first in stabilize; the user rule has nothing left to do there, so run it alone
        var only = Simplifier.Simplify(Parser.Parse(X + "r = log(sum(exp(x), axis=0, keepdims=true))"),
            new SimplifyOptions(Phases: [new RuleSet("user", RuleSet.Parse("rule lse: log(sum(exp(x), axis=a, keepdims=k)) => logsumexp(x, axis=a, keepdims=k)").Rules)]));
        Assert.Equal("logsumexp(x, axis=0, keepdims=true)", Printer.PrintExpression(only.After.Output));
        Assert.Contains(r.Rewrites, s => s.After.StartsWith("logsumexp", StringComparison.Ordinal));
    }

    [Fact]
    public void AnAttributeLeftOutMustBeLeftOutOnTheNode()
    {
        var rules = RuleSet.Parse("rule s: sum(-x, axis=a) => -sum(x, axis=a)");
        var g = Parser.Parse(X + "r = sum(-x, axis=1, keepdims=true)");
        var r = Simplifier.Simplify(g, new SimplifyOptions(Phases: [new RuleSet("user", rules.Rules)]));
        Assert.Empty(r.Rewrites);
    }

    [Fact]
    public void RightSideOfAnotherShapeDoesNotFire()
    {
        // x * 1 => x is sound, but where x is broadcast by the product the replacement would change the shape
        var rules = RuleSet.Parse("rule one: x * c => x if one_element(c)", "rules.txt", checkSoundness: false);
        var r = Simplifier.Simplify(Parser.Parse("input x: f64[3]\ninput c: f64[2, 1]\nr = x * c"),
            new SimplifyOptions(Phases: [new RuleSet("user", rules.Rules)]));
        Assert.Empty(r.Rewrites);
    }

    [Fact]
    public void ReportingPredicateGivesANearMiss()
    {
        var r = Run("rule sqrt-square: sqrt(square(x)) => x if nonneg(x)", X + "r = sqrt(square(x))");
        Assert.Contains(r.NearMisses, m => m.Rule == "sqrt-square" && m.Reason.Contains("not known to be >= 0"));
        var ok = Run("rule sqrt-square: sqrt(square(x)) => x if nonneg(x)", X + "r = sqrt(square(exp(x)))");
        Assert.Equal("exp(x)", Printer.PrintExpression(ok.After.Output));
    }

    [Fact]
    public void InteriorNodesAreMarkedForTheSharingPolicy()
    {
        var program = X + "s = x * x\nr = sqrt(s) + s";
        var keep = Run("rule norm: sqrt(x * x) => abs(x)", program);
        Assert.DoesNotContain(keep.Rewrites, s => s.Rule == "norm");
        Assert.Contains(keep.NearMisses, m => m.Rule == "norm" && m.Reason.Contains("also used outside the pattern"));
        var recompute = Simplifier.Simplify(Parser.Parse(program),
            new SimplifyOptions(Sharing: SharingPolicy.Recompute, UserRules: RuleSet.Parse("rule norm: sqrt(x * x) => abs(x)")));
        Assert.Contains(recompute.Rewrites, s => s.Rule == "norm" && s.Note!.Contains("recomputes x * x"));
    }

    [Fact]
    public void WhenConditionsFailSilentlyIfConditionsReport()
    {
        const string program = X + "r = sqrt(square(x))";
        var quiet = Run("rule sq: sqrt(square(x)) => x when nonneg(x)", program);
        Assert.Empty(quiet.Rewrites);
        Assert.DoesNotContain(quiet.NearMisses, m => m.Rule == "sq");
        var loud = Run("rule sq: sqrt(square(x)) => x if nonneg(x)", program);
        Assert.Empty(loud.Rewrites);
        Assert.Contains(loud.NearMisses, m => m.Rule == "sq" && m.Reason == "x is not known to be >= 0");
        var proved = Run("rule sq: sqrt(square(x)) => x when nonneg(x)", "input x: f64[4, 3] positive\nr = sqrt(square(x))");
        Assert.Contains(proved.Rewrites, s => s.Rule == "sq");
    }

    [Fact]
    public void WhatTheRightSideRebuildsIsNotInterior()
    {
        // exp(x) is shared, but the rule rebuilds it unchanged: it removes only the sum, so even speed first fires, noting nothing.
        const string program = X + "input z: f64[4, 3]\ne = exp(x)\nr = sum((e + y) * z) + sum(e)";
        var r = Simplifier.Simplify(Parser.Parse(program), new SimplifyOptions(Sharing: SharingPolicy.Keep,
            UserRules: RuleSet.Parse("rule distribute: (exp(x) + y) * z => exp(x) * z + y * z")));
        var step = Assert.Single(r.Rewrites, s => s.Rule == "distribute");
        Assert.Null(step.Note);
    }

    [Fact]
    public void NegationOfANegationOnTheRightSideBuildsTheOperand()
    {
        var rules = RuleSet.Parse("rule flip: exp(x) * y => y / exp(-x)");
        var r = Simplifier.Simplify(Parser.Parse(X + "r = exp(-x) * y"), new SimplifyOptions(Phases: [new RuleSet("user", rules.Rules)]));
        Assert.Equal("y / exp(x)", Printer.PrintExpression(r.After.Output));
    }

    [Fact]
    public void UnsoundRuleIsRefusedWithACounterexample()
    {
        var e = Assert.Throws<RuleException>(() => RuleSet.Parse("# a wrong rule\nrule bogus: exp(x) => x + 1\n", "rules.txt"));
        Assert.StartsWith("rules.txt:2: rule bogus (exp(x) => x + 1) changes the value: at x = ", e.Message);
        Assert.Matches(@"the left side is [-0-9.eE+]+, the right side [-0-9.eE+]+$", e.Message);
    }

    [Fact]
    public void RuleWrongOnlyInTheGradientIsRefused()
    {
        var e = Assert.Throws<RuleException>(() => RuleSet.Parse("rule frozen: x * x => square(stop_gradient(x))"));
        Assert.Contains("changes the gradient with respect to x", e.Message);
    }

    [Fact]
    public void UnsoundOnlyOutsideThePreconditionIsAccepted()
    {
        RuleSet.Parse("rule sqrt-square: sqrt(square(x)) => x if nonneg(x)");
        var e = Assert.Throws<RuleException>(() => RuleSet.Parse("rule sqrt-square: sqrt(square(x)) => x"));
        Assert.Contains("changes the value", e.Message);
    }

    [Theory]
    [InlineData("1.00000001", false)]      // 1e-8 relative: beyond Tolerance.F64's rtol of 1e-9
    [InlineData("1.0000000000001", true)]  // 1e-13 relative: rounding, within it
    public void AgreementIsTheLibrarysTolerance(string factor, bool sound)
    {
        var text = $"rule scaled: exp(x) => exp(x) * {factor}";
        if (sound) RuleSet.Parse(text);
        else Assert.Contains("changes the value", Assert.Throws<RuleException>(() => RuleSet.Parse(text)).Message);
        Assert.Equal(1e-9, Autodiff.Tolerance.For(DType.F64).Relative);
    }

    [Fact]
    public void RuleThatChangesTheShapeCannotBeChecked()
    {
        var e = Assert.Throws<RuleException>(() => RuleSet.Parse("rule total: exp(x) => sum(x, axis=0)"));
        Assert.Contains("cannot be checked: the right side", e.Message);
        Assert.Contains("a rewrite must keep the shape and element type", e.Message);
    }

    [Theory]
    [InlineData("rule a: exp(x) => x +", "rules.txt:1:22: expected an expression, found end of input")]
    [InlineData("rule a: exp(x) x", "rules.txt:1:17: expected '=>' between the left and the right side")]
    [InlineData("rule a: exp(x) => y", "rules.txt:1:19: 'y' is not bound by the left side")]
    [InlineData("rule a: expp(x) => x", "rules.txt:1:9: unknown function 'expp'; did you mean 'exp'")]
    [InlineData("rule a: x => x", "rules.txt:1:9: the left side must be an operation (a call or an operator), not a lone variable or number")]
    [InlineData("rule a: log(exp(x)) => x if postive(x)", "rules.txt:1:29: unknown predicate 'postive'; did you mean 'positive'?")]
    [InlineData("rule a: log(exp(x)) => x if positive(y)", "rules.txt:1:38: argument 1 of 'positive(x)' must be an operand variable of the left side, found 'y'")]
    [InlineData("\n\n  rewrite a: exp(x) => x", "rules.txt:3:3: expected 'rule NAME: LHS => RHS [if PREDICATE(args)]'")]
    [InlineData("rule a: softmax(x, axis=x) => x", "rules.txt:1:25: 'x' is an operand variable, used here as the attribute 'axis' of 'softmax'")]
    public void ErrorsAreLocated(string text, string message)
    {
        var e = Assert.Throws<RuleException>(() => RuleSet.Parse(text, "rules.txt"));
        Assert.StartsWith(message, e.Message);
    }

    [Fact]
    public void CommentsAndBlankLinesAreSkipped()
    {
        var set = RuleSet.Parse("# my rules\n\nrule square-self: x * x => square(x)   # squares\n  \n");
        Assert.Equal(["square-self"], set.Rules.Select(r => r.Name));
        Assert.Equal("x * x => square(x)", set.Rules[0].Pattern);
    }
}

/// <summary>The soundness check that users' rules pass when loaded, run over every built-in rule written as a pattern.</summary>
public class BuiltinRuleSoundnessTests
{
    public static TheoryData<string, string> PatternRules()
    {
        var d = new TheoryData<string, string>();
        foreach (var r in Rules.All.Where(r => r.Source is not null)) d.Add(r.Name, r.Pattern);
        return d;
    }

    [Theory]
    [MemberData(nameof(PatternRules))]
    public void BuiltinRuleIsSound(string name, string pattern)
    {
        var rule = Rules.All.First(r => r.Name == name && r.Pattern == pattern).Source!;
        var refuted = RuleSoundness.Check(rule);
        Assert.True(refuted is null, $"{name}: {pattern}: {refuted}");
    }
}

/// <summary>docs/rules.md shows every rule of the catalogue with its pattern exactly as the engine runs it.</summary>
public class RuleCatalogueTests
{
    private static string Docs()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "docs", "rules.md"))) return File.ReadAllText(Path.Combine(dir.FullName, "docs", "rules.md"));
        throw new InvalidOperationException("docs/rules.md not found");
    }

    [Fact]
    public void EveryRuleIsInTheCatalogueAsTheEngineRunsIt()
    {
        var docs = Docs();
        var missing = Rules.All.Where(r => !docs.Contains($"| `{r.Name}` | `{r.Pattern}` |", StringComparison.Ordinal)
                                           && !docs.Contains($"| `{r.Pattern}` |", StringComparison.Ordinal))
            .Select(r => $"{r.Name}: {r.Pattern}").ToArray();
        Assert.True(missing.Length == 0, "docs/rules.md lacks:\n" + string.Join("\n", missing));
    }

    [Fact]
    public void RulesArePatternsButForTheEscapeHatches()
    {
        var all = Rules.All.ToArray();
        var hand = all.Where(r => r.Source is null).Select(r => r.Name).Distinct().Order().ToArray();
        // Each keeps a hand-written matcher for a reason given beside it in Rules.cs and in docs/rules.md: fold-constants
        // applies to every elementwise op (a pattern names one op), negative-factor walks a chain of * and / of any length,
        // and the cross-entropy fusions reduce the sum's other axes re-indexed after removing a (and divide by the size of
        // axis a), arithmetic on attributes that a pattern's right side cannot write.
        Assert.Equal(["fold-constants", "negative-factor", "softmax-cross-entropy", "softmax-cross-entropy-mean"], hand);
    }
}
