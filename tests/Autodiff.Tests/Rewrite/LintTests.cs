using Autodiff.Rewrite;

namespace Autodiff.Tests.Rewrite;

/// <summary><see cref="Lint"/>: every op that can still turn finite inputs into NaN or inf after simplification, at its
/// 1-based position in the source; nothing for programs whose every op is proved safe.</summary>
public class LintTests
{
    private const string X = "input x: f64[4, 3]\ninput y: f64[4, 3]\ninput q: f64[4, 3] positive\ninput p: f64[4, 3] probs(axis=1)\ninput t: i64[4] classes(3)\n";

    /// <summary>(program after the declarations on lines 1–5, expected findings as "line:column op" and a message fragment).</summary>
    public static TheoryData<string, string[], string?> Cases() => new()
    {
        { "loss = -mean(take(log(softmax(x, axis=1)), t, axis=1))", [], null },
        { "loss = -mean(sum(p * log(softmax(x, axis=1)), axis=1))", [], null },
        { "loss = -mean(sum(one_hot(t, 3, dtype=f64) * log(exp(x) / sum(exp(x), axis=1, keepdims=true)), axis=1))", [], null },
        { "r = sum(log(q)) + sum(sqrt(q)) + sum(x / q) + sum(log(square(x) + 1e-8)) + sum(log(maximum(x, 1e-10)))", [], null },
        { "r = sum(log(x + 1e-7))", ["6:9 log"], "proves nothing" },
        { "r = sum(x / (y + 1e-7))", ["6:11 div"], "proves nothing" },
        { "r = sum(x / y)", ["6:11 div"], "not proved nonzero" },
        { "r = sum(log(x))", ["6:9 log"], "not proved > 0" },
        { "r = sum(sqrt(x))", ["6:9 sqrt"], "not proved >= 0" },
        { "r = sum(sqrt(square(x)))", ["6:9 sqrt"], "gradient is inf" },
        { "r = sum(pow(x, 0.5))", ["6:9 pow"], "non-integer power" },
        { "r = sum(x ^ -1)", ["6:11 pow"], "inf at 0" },
        { "r = sum(exp(x))", ["6:9 exp"], "overflows" },
        { "r = sum(exp(x - max(x, axis=1, keepdims=true)))", [], null },
        { "r = sum(log(1 + x))", ["6:9 log1p"], "not proved > -1" },
        { "a = log(x)\nb = a / y\nr = sum(b)", ["6:5 log", "7:7 div"], null },
    };

    [Theory, MemberData(nameof(Cases))]
    public void FindsEveryUnprovedOp(string body, string[] expected, string? fragment)
    {
        var findings = Lint.Check(X + body);
        Assert.Equal(expected, findings.Select(f => $"{f.Line}:{f.Column} {f.Op}").ToArray());
        if (fragment is not null) Assert.Contains(findings, f => f.Message.Contains(fragment));
    }

    [Fact]
    public void GraphsBuiltInCSharpHaveNoPositions()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 3);
        var f = Assert.Single(Lint.Check(b.Build((x + 1e-7).Log().Sum())));
        Assert.Equal((0, 0, "log"), (f.Line, f.Column, f.Op));
    }

    [Fact]
    public void SpeedFirstLeavesTheSharedLogOfSoftmaxToTheLint()
    {
        const string entropy = "input z: f64[4, 5]\np = softmax(z, axis=1)\nh = -mean(sum(p * log(p), axis=1))";
        Assert.Empty(Lint.Check(entropy));
        var f = Assert.Single(Lint.Check(entropy, new SimplifyOptions(Sharing: SharingPolicy.Keep)));
        Assert.Equal((3, 19, "log"), (f.Line, f.Column, f.Op));
    }
}
