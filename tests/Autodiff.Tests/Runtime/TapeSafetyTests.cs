namespace Autodiff.Tests.Runtime;

/// <summary>A tape refuses to be shared between concurrent calls, refuses graphs that do not fit its memory budget before
/// allocating, and refuses null arguments; graphs mixing builders are refused when built.</summary>
public class TapeSafetyTests
{
    /// <summary>The identity, whose forward signals that it started and then waits to be released: it holds a call on
    /// the tape open for as long as the test needs.</summary>
    private sealed record BlockingOp(ManualResetEventSlim Entered, ManualResetEventSlim Release) : Op
    {
        public override string Name => "blocking";

        public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs) => (inputs[0].Shape, inputs[0].DType);

        public override void Forward(OpContext c)
        {
            c.Output.CopyFrom(c.Inputs[0]);
            Entered.Set();
            Release.Wait(TimeSpan.FromSeconds(30));
        }

        public override void Backward(OpContext c)
        {
            if (c.InputGrads[0] is { } g)
                for (int i = 0; i < g.Size; i++) g.SetDouble(i, g.GetDouble(i) + c.GradOutput.GetDouble(i));
        }

        public override Expr?[] Gradient(Node node, Expr g) => [g];
    }

    [Fact]
    public void ConcurrentCallsOnOneTapeThrow()
    {
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 3);
        var g = b.Build(b.Make(new BlockingOp(entered, release), x.Node).Expr.Sum());
        var tape = new Tape(g);
        var inputs = new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(new[] { 1.0, 2, 3 }, 3) };

        double firstValue = double.NaN;
        var first = new Thread(() => firstValue = tape.Run(inputs).Value.GetDouble(0));
        first.Start();
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)));
        foreach (var call in new Action[] { () => tape.Run(inputs), () => tape.Forward(inputs), () => tape.Backward() })
        {
            var e = Assert.Throws<InvalidOperationException>(call);
            Assert.Contains("one thread at a time", e.Message);
            Assert.Contains("its own Tape", e.Message);
        }
        release.Set();
        first.Join();
        Assert.Equal(6.0, firstValue);

        // The tape is free again once the call returns.
        var (value, grads) = tape.Run(inputs);
        Assert.Equal(6.0, value.GetDouble(0));
        Assert.Equal([1.0, 1, 1], grads["x"].ToDoubleArray());
    }

    /// <summary>The documented pattern: one tape per thread over the same graph; every result matches its own inputs.</summary>
    [Fact]
    public void OneTapePerThreadGivesEachThreadItsOwnResults()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 64);
        var g = b.Build((x * x).Sum());
        var results = new double[4 * 50];
        Parallel.For(0, 4, t =>
        {
            var tape = new Tape(g);
            for (int k = 0; k < 50; k++)
            {
                var xs = Enumerable.Range(0, 64).Select(i => (double)(t * 1000 + k + i)).ToArray();
                var (v, grads) = tape.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(xs, 64) });
                Assert.Equal(xs.Sum(a => a * a), v.GetDouble(0));
                Assert.Equal(xs.Select(a => 2 * a), grads["x"].ToDoubleArray());
                results[t * 50 + k] = v.GetDouble(0);
            }
        });
        Assert.DoesNotContain(0.0, results);
    }

    [Fact]
    public void NullArgumentsThrowArgumentNullException()
    {
        var b = new GraphBuilder();
        var g = b.Build(b.Input("x", DType.F64, 2).Sum());
        Assert.Throws<ArgumentNullException>(() => new Tape(null!));
        var tape = new Tape(g);
        Assert.Throws<ArgumentNullException>(() => tape.Run(null!));
        Assert.Throws<ArgumentNullException>(() => tape.Forward(null!));
        Assert.Throws<ArgumentNullException>(() => b.Build(default(Expr)));
    }

    /// <summary>f32[46340, 46340] needs 8.6 GB: refused before any allocation, naming the op, the shape and both sizes.</summary>
    [Fact]
    public void TapeRefusesANodeLargerThanItsBudget()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F32, 1);
        var g = b.Build(x.BroadcastTo(46340, 46340).Sum());
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<MemoryBudgetException>(() => new Tape(g, null, 2L << 30));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 100 << 20, "nothing large was allocated");
        Assert.Equal("broadcast_to needs 8.6 GB for f32[46340, 46340]; the tape's memory budget is 2.1 GB (MemoryBudget.Default)", e.Message);
        Assert.False(e.Total);
        Assert.Equal(46340L * 46340 * 4, e.Bytes);
    }

    /// <summary>No buffer alone exceeds the budget, but their sum does: the message gives the total and the largest node.</summary>
    [Fact]
    public void TapeRefusesBuffersThatFitOnlyOneByOne()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 1000, 1000);   // 8 MB each: the gradient of x, exp's value and gradient, the sum
        var g = b.Build(x.Exp().Sum());
        var e = Assert.Throws<MemoryBudgetException>(() => new Tape(g, null, 20_000_000));
        Assert.True(e.Total);
        Assert.Equal(3 * 8_000_000L + 2 * 8, e.Bytes);
        Assert.StartsWith("the graph's buffers need 24 MB in all (the largest: ", e.Message);
        Assert.NotNull(new Tape(g, null, 30_000_000));
    }

    /// <summary>A parsed program locates the node; the default budget is the process's and a scope can lower it.</summary>
    [Fact]
    public void ParsedProgramsLocateTheNodeAndLimitScopesTheDefault()
    {
        var g = Autodiff.Text.Parser.Parse("input x: f32[46340, 1]\ny = sum(x @ transpose(x, axes=(1, 0)))\noutput y");
        Assert.True(MemoryBudget.Default > 0);
        using (MemoryBudget.Limit(1_000_000_000))
        {
            Assert.Equal(1_000_000_000, MemoryBudget.Default);
            var e = Assert.Throws<MemoryBudgetException>(() => { _ = new Tape(g); });
            Assert.StartsWith("2:11: matmul needs 8.6 GB for f32[46340, 46340]", e.Message);
            Assert.Equal((2, 11), e.Position);
        }
        Assert.NotEqual(1_000_000_000, MemoryBudget.Default);
    }

    [Theory]
    [InlineData("2G", 2_000_000_000L)]
    [InlineData("2GiB", 2L << 30)]
    [InlineData("512M", 512_000_000L)]
    [InlineData("1.5Gi", 3L << 29)]
    [InlineData("1000", 1000L)]
    [InlineData("64kB", 64_000L)]
    public void SizesParse(string text, long bytes) => Assert.Equal(bytes, MemoryBudget.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData("lots")]
    [InlineData("-1G")]
    [InlineData("0")]
    [InlineData("nanG")]
    public void NonSizesDoNotParse(string text) => Assert.Null(MemoryBudget.Parse(text));

    /// <summary>Sizes between .NET's array limit and 2³¹ − 1 elements are refused as shapes, not when an array is made.</summary>
    [Fact]
    public void ShapesBeyondTheArrayLimitAreRefused()
    {
        Assert.Equal(Array.MaxLength, new Shape(Array.MaxLength).Size);
        var e = Assert.Throws<AutodiffException>(() => new Shape(Array.MaxLength + 1));
        Assert.Contains("the most a .NET array holds", e.Message);
        var b = new GraphBuilder();
        var t = b.Input("t", DType.I64, 2);
        var oneHot = Assert.ThrowsAny<AutodiffException>(() => t.OneHot(int.MaxValue));
        Assert.Contains("2147483591", oneHot.Message);
    }

    /// <summary>A node of another builder is refused by <see cref="GraphBuilder.Build"/>, naming both builders.</summary>
    [Fact]
    public void BuildRefusesANodeOfAnotherBuilder()
    {
        var b1 = new GraphBuilder();
        var x1 = b1.Input("x", DType.F32, 2);
        var b2 = new GraphBuilder();
        b2.Input("y", DType.F32, 2);
        var e = Assert.Throws<AutodiffException>(() => b2.Build(x1.Exp()));
        Assert.Contains("another GraphBuilder (inputs x) than this one (inputs y)", e.Message);
        var named = Assert.Throws<AutodiffException>(() => b1.Build(x1.Exp(), new Dictionary<Node, string> { [b2.Inputs[0].Expr.Exp().Node] = "e" }));
        Assert.Contains("the node named 'e'", named.Message);
    }
}

/// <summary>Input facts are checked when they are made (a class count) and when the input is declared (what depends on
/// its type and shape), so the printer never writes facts the parser refuses.</summary>
public class InputFactsValidationTests
{
    [Fact]
    public void ClassCountMustBePositive()
    {
        Assert.Contains("at least 1", Assert.Throws<AutodiffException>(() => InputFacts.ClassIndices(-3)).Message);
        Assert.Throws<AutodiffException>(() => new InputFacts(Classes: 0));
        Assert.Equal(5, InputFacts.ClassIndices(5).Classes);
    }

    [Theory]
    [InlineData(DType.F32, new[] { 2, 3 }, 7, null, false, "probs(axis=7) is out of range for f32[2, 3] (rank 2)")]
    [InlineData(DType.F32, new[] { 2, 3 }, -3, null, false, "probs(axis=-3) is out of range for f32[2, 3] (rank 2)")]
    [InlineData(DType.I64, new[] { 2, 3 }, 1, null, false, "probs(axis=1) needs a float input, not i64[2, 3]")]
    [InlineData(DType.F64, new[] { 4 }, null, 3, false, "classes(3) needs an i64 input, not f64[4]")]
    public void FactsMustFitTheDeclaration(DType type, int[] dims, int? axis, int? classes, bool positive, string message)
    {
        var b = new GraphBuilder();
        var e = Assert.ThrowsAny<AutodiffException>(() => b.Input("x", type, new Shape(dims), new InputFacts(axis, classes, positive)));
        Assert.Equal($"input: 'x': {message}", e.Message);
    }

    [Fact]
    public void FactsThatFitAreAccepted()
    {
        var b = new GraphBuilder();
        b.Input("p", DType.F32, new Shape(2, 3), InputFacts.Probs(-1));
        b.Input("t", DType.I64, new Shape(2), InputFacts.ClassIndices(3));
        b.Input("s", DType.F64, new Shape(2), new InputFacts(IsPositive: true));
        Assert.Equal(3, b.Inputs.Count);
    }
}
