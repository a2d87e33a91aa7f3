using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Tests.Rewrite;

/// <summary>Random graphs over the core ops and the patterns the rules look for (<see cref="RandomProgram"/>): <c>simplify(g)</c> must give the same value
/// and the same gradients as <c>g</c> (float64, relative 1e-9 where the naive graph is finite), and never turn a finite
/// result into a non-finite one, under both sharing policies. Each case is built from one integer seed, printed with the program on failure.</summary>
public class DifferentialTests
{
    [Theory]
    [InlineData(SharingPolicy.Keep)]
    [InlineData(SharingPolicy.Recompute)]
    public void SimplifiedGraphAgreesWithNaiveGraph(SharingPolicy sharing)
    {
        int fused = 0, recomputed = 0;
        foreach (int seed in Enumerable.Range(1, 600))   // fixed seeds, so a run is reproducible (see RewriteSoundnessTests)
        {
            var prog = new RandomProgram(seed);
            var result = Simplifier.Simplify(prog.Graph, new SimplifyOptions(Sharing: sharing));
            if (result.Rewrites.Count > 0) fused++;
            if (result.Rewrites.Any(s => s.Note is not null)) recomputed++;
            var inputs = prog.Inputs();
            var naive = new Tape(prog.Graph).Run(inputs);
            var simple = new Tape(result.After).Run(inputs);
            string Where() => $"seed {seed}\n{Printer.Print(prog.Graph)}\nsimplified:\n{Printer.Print(result.After)}";
            RandomProgram.AssertClose(naive.Value, simple.Value, "value", Where);
            foreach (var (name, g) in naive.Gradients) RandomProgram.AssertClose(g, simple.Gradients[name], "d/d" + name, Where);
        }
        Assert.True(fused > 300, $"only {fused} of 600 random programs were rewritten at all");
        Assert.True(sharing == SharingPolicy.Keep || recomputed > 30, $"only {recomputed} of 600 random programs had a fusion recompute a shared node");
    }

    /// <summary>The random programs exercise the stability rules (docs/rules.md, "Stability on real code"): each fires in
    /// some program, so the differential check above covers it.</summary>
    [Fact]
    public void RandomProgramsExerciseTheStabilityRules()
    {
        var fired = new HashSet<string>(StringComparer.Ordinal);
        foreach (int seed in Enumerable.Range(1, 600))
            foreach (var step in Simplifier.Simplify(new RandomProgram(seed).Graph).Rewrites) fired.Add(step.Rule);
        string[] wanted = ["abs-of-nonnegative", "relu-of-nonnegative", "exp-over-sum-exp", "expm1", "sqrt-of-exp", "sigmoid-from-exp-ratio",
            "sigmoid-times-exp", "odds-of-sigmoid", "div-by-exp", "sigmoid", "log1m-softmax", "log1mexp", "softplus", "log-sigmoid",
            "logdiffexp", "log1p", "log1p-from-softplus", "log-of-quotient", "log-of-product", "one-minus-sigmoid", "log-softmax"];
        Assert.Empty(wanted.Except(fired));
    }
}
