using Autodiff.Text;

namespace Autodiff.Tests.Runtime;

/// <summary>The tape's plan, computed from the graph alone (no kernel runs, no buffer is allocated): which nodes need a
/// gradient, the tail, the heads and the sweep, and each gradient edge's write mode. Each case is a small program whose
/// plan is worked out by hand.</summary>
public class TapePlanTests
{
    private static (TapePlan Plan, Func<string, int> Slot) Plan(string program, IEnumerable<string>? wrt = null)
    {
        var g = Parser.Parse(program);
        var plan = TapePlan.Of(g, wrt);
        int Slot(string name) => plan.SlotOf(name == "output" ? g.Output : g.Names.Single(kv => kv.Value == name).Key);
        return (plan, Slot);
    }

    [Fact]
    public void AFanOutAccumulatesIntoAZeroedBufferAndASingleConsumerOverwrites()
    {
        // e is read twice (by s1 and s2): the first writer in the sweep could overwrite, but e's buffer is shared, so the
        // first writer overwrites and the second accumulates; exp's write into x is its only one and overwrites.
        var (p, slot) = Plan("input x: f64[3]\ne = exp(x)\na = sum(e)\nb = sum(square(e))\ny = a + b\noutput y");
        int e = slot("e"), a = slot("a"), y = slot("y");
        int square = p.Order.Select((n, i) => (n, i)).Single(t => t.n.Op is SquareOp).i;
        Assert.Equal([GradientWrite.Overwrite, GradientWrite.Overwrite], p.Writes(y));
        var writesIntoE = new[] { p.Write(a, 0), p.Write(square, 0) };
        Assert.Single(writesIntoE, GradientWrite.Overwrite);
        Assert.Single(writesIntoE, GradientWrite.Accumulate);
        Assert.Equal(GradientWrite.Overwrite, p.Write(e, 0));
        Assert.DoesNotContain(e, p.ZeroBeforeBackward);
        Assert.All(p.Order.Select((_, i) => i), i => Assert.True(p.NeedsGradient(i)));
        Assert.Equal(p.OutputSlot, y);
    }

    [Fact]
    public void AnOpThatCannotOverwriteLeavesItsOperandZeroed()
    {
        // max's backward adds into the entries that attain the max; it cannot write its operand whole
        var (p, slot) = Plan("input x: f64[2, 3]\nm = max(x, axis=1)\ny = sum(m)\noutput y");
        Assert.Equal(GradientWrite.Accumulate, p.Write(slot("m"), 0));
        Assert.Contains(p.SlotOf(p.Order.Single(n => n.Op is InputOp)), p.ZeroBeforeBackward);
    }

    [Fact]
    public void OperandsWithoutAGradientAreNotWrittenAndOnlyPathsFromWrtNeedGradients()
    {
        var (p, slot) = Plan("input x: f64[3]\ninput w: f64[3]\ninput t: i64[]\ny = sum(take(x * w, t, axis=0))\noutput y", wrt: ["x"]);
        var w = p.Order.Single(n => n.Op is InputOp { InputName: "w" });
        var t = p.Order.Single(n => n.Op is InputOp { InputName: "t" });
        Assert.False(p.NeedsGradient(p.SlotOf(w)));
        Assert.False(p.NeedsGradient(p.SlotOf(t)));
        int mul = p.Order.Select((n, i) => (n, i)).Single(q => q.n.Op is MulOp).i;
        int take = p.Order.Select((n, i) => (n, i)).Single(q => q.n.Op is TakeOp).i;
        Assert.Equal([GradientWrite.Overwrite, GradientWrite.None], p.Writes(mul));
        Assert.Equal(GradientWrite.None, p.Write(take, 1));
    }

    [Fact]
    public void ALossReducedByMeanHasATailAndAFusedHead()
    {
        var (p, slot) = Plan("input z: f32[4, 5]\ninput t: i64[4] classes(5)\nl = sparse_softmax_cross_entropy(z, t, axis=1)\ny = mean(l)\noutput y");
        int l = slot("l"), y = slot("y");
        Assert.Equal([y], p.Tail);
        Assert.True(p.IsHead(l));
        Assert.True(p.Fuses);
        Assert.Equal(y, p.Sweep[0]);
        Assert.Equal(l, p.Sweep[1]);
        Assert.Equal(p.Order.Count, p.Sweep.Count);
        Assert.Equal(GradientWrite.Overwrite, p.Write(l, 0));
    }

    [Fact]
    public void ABackwardThatReadsForwardValuesEndsTheTail()
    {
        // the product's backward reads exp(z), so it is not in the tail, and the logsumexp under it is no head; without
        // a head the sweep is plain reverse topological order and no tail is run early
        var (p, _) = Plan("input z: f32[4, 5]\ny = sum(logsumexp(z, axis=1) * exp(sum(z, axis=1)))\noutput y");
        Assert.Empty(p.Tail);
        Assert.False(p.Fuses);
        Assert.Equal(Enumerable.Range(0, p.Order.Count).Reverse(), p.Sweep);
    }

    [Fact]
    public void WithoutAGradientNothingIsPlanned()
    {
        var (p, _) = Plan("input t: i64[3]\ny = one_hot(t, 3, dtype=f64)\noutput y");
        Assert.All(p.Order.Select((_, i) => i), i => Assert.False(p.NeedsGradient(i)));
        Assert.Empty(p.ZeroBeforeBackward);
        Assert.False(p.Fuses);
    }
}
