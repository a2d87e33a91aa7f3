using Autodiff.Tests.Fused;
using Autodiff.Tests.Text;
using Autodiff.Text;

namespace Autodiff.Tests.Structured;

/// <summary>The CRF ops in the expression language (named optional operands, round trips, backward graphs) and their
/// error messages.</summary>
public class CrfTextTests
{
    private const string Decls = """
        input e: f64[4, 6, 5]
        input A: f64[5, 5]
        input s: f64[5]
        input f: f64[5]
        input tags: i64[4, 6] classes(5)
        input n: i64[4] classes(7)
        """;

    private static readonly string[] ProgramList =
    [
        Decls + "\nll = crf_log_likelihood(e, A, tags, start=s, end=f, lengths=n)\nloss = -mean(ll)",
        Decls + "\na = crf_log_likelihood(e, A, tags, lengths=n) + crf_log_likelihood(e, A, tags, end=f) + crf_log_likelihood(e, A, tags)",
        Decls + "\nz = crf_log_partition(e, A, lengths=n) + crf_log_partition(e, A, start=s, end=f) + crf_viterbi_score(e, A, start=s, lengths=n)",
        Decls + "\nm = crf_marginals(e, A, lengths=n) - crf_path_marginals(tags, lengths=n, classes=5, dtype=f64)\nk = crf_edge_marginals(e, A, end=f) * crf_path_edge_marginals(tags, classes=5, dtype=f64)",
        Decls + "\nu = crf_start_marginals(e, A, start=s, lengths=n) + crf_end_marginals(e, A, end=f, lengths=n) + crf_path_start_marginals(tags, lengths=n, classes=5, dtype=f64) + crf_path_end_marginals(tags, classes=5, dtype=f64)",
        Decls + "\np = crf_viterbi(e, A, start=s, end=f, lengths=n)\nq = crf_path_marginals(p, lengths=n, classes=5, dtype=f64)",
    ];

    public static TheoryData<string> Programs => new(ProgramList);

    [Theory, MemberData(nameof(Programs))]
    public void ProgramsRoundTrip(string source)
    {
        var g = Parser.Parse(source);
        var text = TextAssert.RoundTrips(g);
        foreach (var node in g.Names.Keys) TextAssert.RoundTrips(g.WithOutput(node));
        Assert.Equal(text, Printer.Print(Parser.Parse(text)));
    }

    [Fact]
    public void EveryCrfFunctionIsCovered()
    {
        var all = string.Join("\n", ProgramList);
        var crf = Functions.Names.Where(n => n.StartsWith("crf_", StringComparison.Ordinal)).ToArray();
        Assert.Equal(12, crf.Length);
        foreach (var name in crf) Assert.Contains(name + "(", all);
    }

    [Theory]
    [InlineData(false, false, false, "crf_log_likelihood(e, A, tags)")]
    [InlineData(false, false, true, "crf_log_likelihood(e, A, tags, lengths=n)")]
    [InlineData(false, true, true, "crf_log_likelihood(e, A, tags, end=f, lengths=n)")]
    [InlineData(true, false, false, "crf_log_likelihood(e, A, tags, start=s)")]
    [InlineData(true, true, true, "crf_log_likelihood(e, A, tags, start=s, end=f, lengths=n)")]
    public void OptionalOperandsPrintAsNamedArguments(bool start, bool end, bool lengths, string expected)
    {
        var c = new CrfSetup(4, 6, 5);
        var (b, e, a, s, f, tags, n) = c.Declare(DType.F64);
        var g = b.Build(e.CrfLogLikelihood(a, tags, start ? s : null, end ? f : null, lengths ? n : null));
        Assert.Contains(expected, Printer.Print(g));
        TextAssert.RoundTrips(g);
    }

    [Fact]
    public void PositionalOptionalOperandsFillStartEndLengthsInOrder()
    {
        var g = Parser.Parse(Decls + "\nll = crf_log_likelihood(e, A, tags, s, f)");
        var op = Assert.IsType<CrfLogLikelihoodOp>(g.Output.Op);
        Assert.Equal(new CrfLogLikelihoodOp(HasStart: true, HasEnd: true), op);
        Assert.Contains("crf_log_likelihood(e, A, tags, start=s, end=f)", Printer.Print(g));
    }

    /// <summary>The printed backward graph shows gold minus model marginals, and parses back.</summary>
    [Fact]
    public void BackwardGraphShowsPathMarginalsMinusModelMarginals()
    {
        var g = Parser.Parse(Decls + "\nloss = -sum(crf_log_likelihood(e, A, tags, start=s, end=f, lengths=n))");
        var grads = SymbolicGradient.Of(g, ["e", "A", "s", "f"]);
        var text = Printer.PrintAssignments(g.Inputs, grads.Select(kv => ("grad_" + kv.Key, kv.Value.Node)).ToList());
        Assert.Contains("crf_path_marginals(tags, lengths=n, classes=5, dtype=f64) - crf_marginals(e, A, start=s, end=f, lengths=n)", text);
        Assert.Contains("crf_path_edge_marginals(tags, lengths=n, classes=5, dtype=f64) - crf_edge_marginals(e, A, start=s, end=f, lengths=n)", text);
        Assert.Contains("crf_path_start_marginals(", text);
        Assert.Contains("crf_path_end_marginals(", text);
        foreach (var grad in grads.Values) TextAssert.RoundTrips(g.Builder.Build(grad));
    }

    /// <summary>A program in the language evaluates to the same numbers as the C# builder.</summary>
    [Fact]
    public void LanguageAndCSharpAgree()
    {
        var c = new CrfSetup(4, 6, 5);
        // The program declares tags classes(5), which the tape checks: padding beyond a sequence's length must be a tag too.
        var x = c.Values(DType.F64, validPadding: true);
        var parsed = Parser.Parse(Decls + "\nll = crf_log_likelihood(e, A, tags, start=s, end=f, lengths=n)");
        var built = c.LogLikelihood(DType.F64);
        var cot = FusedRun.Cotangent(DType.F64, new Shape(4));
        var (pv, pg) = FusedRun.Run(parsed, x, c.Wrt, cot);
        var (bv, bg) = FusedRun.Run(built, x, c.Wrt, cot);
        Assert.Equal(bv, pv);
        foreach (var w in c.Wrt) Assert.Equal(bg[w], pg[w]);
    }

    public static TheoryData<string, string> ValueErrors => new()
    {
        { "n", "crf_log_likelihood: length 7 of sequence 2 (lengths[2]) is outside [0, 6]" },
        { "n-", "crf_log_likelihood: length -1 of sequence 2 (lengths[2]) is outside [0, 6]" },
        { "tags", "crf_log_likelihood: tag 5 at position [3, 2] (sequence 3, time 2) is out of range [0, 5)" },
        { "tags-", "crf_log_likelihood: tag -1 at position [3, 2] (sequence 3, time 2) is out of range [0, 5)" },
    };

    [Theory, MemberData(nameof(ValueErrors))]
    public void BadLengthsAndTagsNameTheSequenceAndPosition(string what, string message)
    {
        var c = new CrfSetup(4, 6, 5, Lengths: true);
        var x = c.Values(DType.F64, validPadding: true);
        if (what.StartsWith('n')) ((long[])x["n"].Data)[2] = what == "n" ? 7 : -1;
        else ((long[])x["tags"].Data)[3 * 6 + 2] = what == "tags" ? 5 : -1;   // sequence 3 has length 5
        var e = Assert.Throws<AutodiffException>(() => new Tape(c.LogLikelihood(DType.F64)).Forward(x));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void EveryCrfOpChecksLengths()
    {
        var c = new CrfSetup(4, 6, 5);
        var x = c.Values(DType.F64);
        ((long[])x["n"].Data)[3] = 9;
        foreach (var graph in new[]
        {
            c.LogPartition(DType.F64),
            c.Graph(DType.F64, v => v.E.CrfMarginals(v.A, v.S, v.F, v.N, CrfPart.End)),
            c.Graph(DType.F64, v => v.E.CrfViterbi(v.A, v.S, v.F, v.N)),
            c.Graph(DType.F64, v => v.Tags.CrfPathMarginals(5, DType.F64, v.N)),
        })
        {
            var e = Assert.Throws<AutodiffException>(() => new Tape(graph, []).Forward(x));
            Assert.EndsWith(": length 9 of sequence 3 (lengths[3]) is outside [0, 6]", e.Message);
        }
    }

    /// <summary>Out-of-range tags at padding positions are ignored (garbage tags are the default in <see cref="CrfSetup"/>).</summary>
    [Fact]
    public void TagsAtPaddingPositionsAreNotRead()
    {
        var c = new CrfSetup(5, 6, 4);
        var x = c.Values(DType.F64);
        Assert.Contains((long[])x["tags"].Data, t => t >= 4);
        var expected = c.Exact(x).Select(r => r.Gold - r.LogZ).ToArray();
        FusedRun.AssertClose(expected, new Tape(c.LogLikelihood(DType.F64), []).Forward(x).ToDoubleArray(), 1e-10, "log-likelihood");
    }

    [Theory]
    [InlineData("crf_log_likelihood(e, A, tags, lengths=m)", "crf_log_likelihood: lengths must be i64[4] to match emissions [4, 6, 5], got i64[3]")]
    [InlineData("crf_log_likelihood(e, B, tags)", "crf_log_likelihood: transitions must be f64[5, 5] to match emissions f64[4, 6, 5], got f64[4, 5]")]
    [InlineData("crf_log_likelihood(e, A, u)", "crf_log_likelihood: tags must be i64[4, 6] to match emissions [4, 6, 5], got i64[4, 5]")]
    [InlineData("crf_log_partition(e, A, start=v)", "crf_log_partition: start must be f64[5] to match emissions f64[4, 6, 5], got f32[5]")]
    [InlineData("crf_viterbi(A, A)", "crf_viterbi: emissions must have shape [batch, time, tags], got f64[5, 5]")]
    [InlineData("crf_marginals(tags, A)", "crf_marginals: emissions must be f32 or f64, got i64[4, 6]")]
    [InlineData("crf_path_marginals(tags, classes=0)", "crf_path_marginals: classes must be at least 1, got 0")]
    [InlineData("crf_path_marginals(e, classes=5)", "crf_path_marginals: tags must be i64[batch, time], got f64[4, 6, 5]")]
    public void ShapeErrorsNameTheOpAndTheShapes(string call, string message)
    {
        var source = Decls + "\ninput m: i64[3]\ninput B: f64[4, 5]\ninput u: i64[4, 5]\ninput v: f32[5]\nr = " + call;
        var e = Assert.Throws<ParseException>(() => Parser.Parse(source));
        Assert.Contains(message, e.Message);
    }
}
