namespace Autodiff.Tests.Runtime;

/// <summary><see cref="Tape.IntermediateBytes"/>: the value and gradient buffers of every node but the inputs, the ops'
/// saved state and the pooled scratch of a pass, checked against the sizes counted by hand. The pool's counter is
/// process-wide, so these tests run alone (<see cref="AloneCollection"/>), not beside other tests' tapes.</summary>
[Collection(AloneCollection.Name)]
public class IntermediateBytesTests
{
    [Fact]
    public void CountsValuesAndGradientsOfEveryNodeButTheInputs()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 100);
        var tape = new Tape(b.Build(x.Exp().Sum()), ["x"]);
        long buffers = (100 * 8 * 2) + (8 * 2);   // exp: value and gradient; sum: value and gradient; x's not counted
        Assert.Equal(buffers, tape.IntermediateBytes);   // nothing rented before a pass
        tape.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.RandomNormal(DType.F64, new Shape(100), new Random(1)) });
        Assert.InRange(tape.IntermediateBytes, buffers, buffers + 4096);   // plus at most a few small pooled arrays
    }

    [Fact]
    public void CountsTheRowStatisticsOfAFusedCrossEntropy()
    {
        const int rows = 64, classes = 10;
        var b = new GraphBuilder();
        var loss = b.Input("z", DType.F32, rows, classes).SparseSoftmaxCrossEntropy(b.Input("t", DType.I64, rows), 1).Mean();
        var tape = new Tape(b.Build(loss), ["z"]);
        tape.Forward(new Dictionary<string, Tensor>
        {
            ["z"] = Tensor.RandomNormal(DType.F32, new Shape(rows, classes), new Random(2)),
            ["t"] = Tensor.FromArray(Enumerable.Range(0, rows).Select(i => (long)(i % classes)).ToArray(), rows),
        });
        long buffers = (rows * 4 * 2) + (4 * 2);          // the per-row losses and the mean: values and gradients
        long state = (rows * 4) + (rows * 8) + (rows * 8); // row maxima (f32), sums and rests (f64)
        Assert.InRange(tape.IntermediateBytes, buffers + state, buffers + state + 4096);
    }

    [Fact]
    public void CountsThePooledScratchOfAPass()
    {
        // the GEMM packs panels of both operands into pooled buffers: the pass's peak shows up after it
        const int n = 256;
        var b = new GraphBuilder();
        var tape = new Tape(b.Build(b.Input("a", DType.F32, n, n).MatMul(b.Input("c", DType.F32, n, n)).Sum()), ["a", "c"]);
        long before = tape.IntermediateBytes;
        tape.Run(new Dictionary<string, Tensor>
        {
            ["a"] = Tensor.RandomNormal(DType.F32, new Shape(n, n), new Random(3)),
            ["c"] = Tensor.RandomNormal(DType.F32, new Shape(n, n), new Random(4)),
        });
        Assert.True(tape.IntermediateBytes > before + (16 * 1024), $"{before} before the pass, {tape.IntermediateBytes} after");
    }
}

/// <summary>Tests that must not run in parallel with any other test (process-wide counters).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "alone";
}
