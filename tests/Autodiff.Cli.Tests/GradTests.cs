using Autodiff.Rewrite;
using Autodiff.Text;
using Snapshooter;
using Snapshooter.Xunit;
using static Autodiff.Cli.Tests.CliRunner;

namespace Autodiff.Cli.Tests;

/// <summary><c>grad</c> on every sample: the printed backward graphs, canonicalized (the default) and as built
/// (<c>--raw</c>), parsed back and evaluated, give the tape's gradients of the naive and of the simplified program; the
/// canonicalized text is never longer than the raw one; and the default output is snapshot-tested.</summary>
public class GradTests
{
    public static TheoryData<string> All => Samples();

    [Theory, MemberData(nameof(All))]
    public void PrintedBackwardGraphsComputeTheTapesGradients(string sample)
    {
        var graph = Parser.Parse(File.ReadAllText(Sample(sample)));
        var values = InputValues.Generate(graph, 1, 1);
        var wrt = GradCommand.Targets(graph, null);
        var canonical = Sections(Run("grad", Sample(sample)));
        var raw = Sections(Run("grad", Sample(sample), "--raw"));
        double tol = graph.Output.DType == DType.F32 ? 2e-4 : 1e-9;
        foreach (var (side, g) in new[] { ("naive", graph), ("simplified", Simplifier.Simplify(graph).After) })
        {
            Assert.True(canonical[side].Length <= raw[side].Length, $"{side}: the canonicalized backward graph is longer than the raw one\n{canonical[side]}\n{raw[side]}");
            var (_, tape) = Runner.Run(new Tape(g, wrt), values, Runner.Cotangent(g));
            foreach (var name in wrt)
            {
                var printed = Evaluate(canonical[side], name, values);
                Close(tape[name], printed, tol, $"{sample} {side} grad_{name}: tape vs printed\n{canonical[side]}");
                Close(Evaluate(raw[side], name, values), printed, tol, $"{sample} {side} grad_{name}: --raw vs printed\n{canonical[side]}");
            }
        }
    }

    [Theory, MemberData(nameof(All))]
    public void GradOutput(string sample)
    {
        var r = Run("grad", Sample(sample));
        Assert.True(r.Code == 0, r.ToString());
        Snapshot.Match(r.Out, SnapshotNameExtension.Create(sample));
    }

    /// <summary>The naive and the simplified backward graph of <c>grad</c>'s output, by header.</summary>
    private static Dictionary<string, string> Sections(Result r)
    {
        Assert.True(r.Code == 0, r.ToString());
        const string naive = "# naive backward graph\n", simplified = "# simplified backward graph\n";
        int a = r.Out.IndexOf(naive, StringComparison.Ordinal), b = r.Out.IndexOf(simplified, StringComparison.Ordinal);
        Assert.True(a >= 0 && b > a, r.Out);
        return new() { ["naive"] = r.Out[(a + naive.Length)..b].Trim(), ["simplified"] = r.Out[(b + simplified.Length)..].Trim() };
    }

    /// <summary>The result <c>grad_NAME</c> of a printed backward graph, evaluated on <paramref name="values"/>.</summary>
    private static Tensor Evaluate(string program, string name, Dictionary<string, Tensor> values)
    {
        var lines = program.Split('\n').Where(l => !l.StartsWith("output ", StringComparison.Ordinal)).Append($"output grad_{name}");
        var g = Parser.Parse(string.Join("\n", lines));
        return new Tape(g, []).Forward(values).Clone();
    }

    private static void Close(Tensor expected, Tensor actual, double tol, string what)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        for (int i = 0; i < expected.Size; i++)
        {
            double a = expected.GetDouble(i), b = actual.GetDouble(i);
            Assert.True(a.Equals(b) || Math.Abs(a - b) <= tol * Math.Max(1, Math.Abs(a)), $"{what}\n[{i}]: expected {a:R}, got {b:R}");
        }
    }
}
