using Autodiff.Kernels;

namespace Autodiff.Tests.Runtime;

/// <summary>The degree of parallelism is a tape option (no global setting), and the kernels are internal.</summary>
public class TapeParallelismTests
{
    private static (Graph Graph, Dictionary<string, Tensor> Inputs) Model()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 256, 64);
        var w = b.Input("w", DType.F64, 64, 300);
        var z = x.MatMul(w);
        var loss = (z.Exp() / z.Exp().Sum(1, keepDims: true)).Log().Sum(1).Mean();
        var rng = new Random(7);
        return (b.Build(loss), new() { ["x"] = Tensor.RandomNormal(DType.F64, x.Shape, rng), ["w"] = Tensor.RandomNormal(DType.F64, w.Shape, rng) });
    }

    [Fact]
    public void OneThreadAndSeveralGiveTheSameResults()
    {
        var (graph, inputs) = Model();
        var serial = new Tape(graph) { DegreeOfParallelism = 1 };
        var parallel = new Tape(graph) { DegreeOfParallelism = 4 };
        Assert.Equal(1, serial.DegreeOfParallelism);
        var (v1, g1) = serial.Run(inputs);
        var (v4, g4) = parallel.Run(inputs);
        Assert.Equal(v1.GetDouble(0), v4.GetDouble(0), 1e-12);
        foreach (var name in new[] { "x", "w" })
            for (int i = 0; i < g1[name].Size; i++)
                Assert.Equal(g1[name].GetDouble(i), g4[name].GetDouble(i), 1e-12);
    }

    [Fact]
    public void TheDegreeHoldsForTheTapesPassesOnlyAndIsValidated()
    {
        var (graph, inputs) = Model();
        Assert.Equal(Environment.ProcessorCount, new Tape(graph).DegreeOfParallelism);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Tape(graph) { DegreeOfParallelism = 0 });
        int before = Parallelism.DegreeOfParallelism;
        new Tape(graph) { DegreeOfParallelism = 1 }.Run(inputs);
        Assert.Equal(before, Parallelism.DegreeOfParallelism);
    }

    [Fact]
    public void KernelsDeclareNoPublicType()
    {
        var kernels = typeof(Graph).Assembly.GetTypes().Where(t => t.Namespace == "Autodiff.Kernels").ToArray();
        Assert.NotEmpty(kernels);
        Assert.Empty(kernels.Where(t => t.IsPublic || t.IsNestedPublic).Select(t => t.FullName));
    }
}
