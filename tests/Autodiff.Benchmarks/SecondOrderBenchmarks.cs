using Autodiff.Kernels;
using BenchmarkDotNet.Attributes;

namespace Autodiff.Benchmarks;

/// <summary>A Hessian-vector product against one forward+backward of the same program (<see cref="Programs"/>, simplified
/// first): reverse-over-reverse (<see cref="Gradient.Hvp"/>, the second-order graph simplified, evaluated by a tape:
/// value, gradient and H·v in one pass over it) and forward-over-reverse by the transpose trick (<see cref="Gradient.Jvp"/>
/// of the gradient graph).</summary>
[MemoryDiagnoser]
public class SecondOrderBenchmarks
{
    private SecondOrderWorkload _w = null!;

    /// <summary>N×C of the logits.</summary>
    [Params("4096x1000")]
    public string Size { get; set; } = "4096x1000";

    /// <summary>Element type.</summary>
    [Params(DType.F32, DType.F64)]
    public DType Type { get; set; }

    /// <summary>The program (see <see cref="Programs.Names"/>).</summary>
    [Params("simplified", "simplified_lse", "matmul")]
    public string Program { get; set; } = "simplified";

    /// <summary>Builds the graphs and tapes.</summary>
    [GlobalSetup]
    public void Setup()
    {
        Parallelism.DegreeOfParallelism = 2;
        var nc = Size.Split('x');
        _w = new SecondOrderWorkload(Programs.Build(Program, Type, int.Parse(nc[0]), int.Parse(nc[1])));
    }

    /// <summary>One forward and backward pass (<see cref="Tape.Run"/>).</summary>
    [Benchmark(Baseline = true)]
    public double ForwardBackward() => _w.First.Step();

    /// <summary>Value, gradient and H·v, reverse-over-reverse.</summary>
    [Benchmark]
    public double HvpReverseOverReverse() => _w.ReverseOverReverse();

    /// <summary>H·v as the JVP of the gradient, by the transpose trick.</summary>
    [Benchmark]
    public double HvpForwardOverReverse() => _w.ForwardOverReverse();
}

/// <summary>The graphs and bound inputs of <see cref="SecondOrderBenchmarks"/>.</summary>
public sealed class SecondOrderWorkload
{
    private readonly HessianVectorProduct _ror, _for;
    private readonly Dictionary<string, Tensor> _v;

    /// <summary>Builds everything for <paramref name="program"/> (differentiated with respect to z).</summary>
    public SecondOrderWorkload(Graph program)
    {
        First = new Workload(program);
        _ror = Gradient.Hvp(program, ["z"]).Simplify();
        var grad = Gradient.Of(program, ["z"]);
        _for = Gradient.Jvp(grad.WithOutputs([("grad_z", grad.Outputs[1].Node)]), ["z"]).Simplify();
        var z = program.Input("z");
        _v = new() { ["z"] = Tensor.RandomNormal(z.DType, z.Shape, new Random(2)) };
    }

    /// <summary>The forward+backward workload.</summary>
    public Workload First { get; }

    /// <summary>Reverse-over-reverse: returns the first element of H·v.</summary>
    public double ReverseOverReverse() => _ror.Evaluate(First.Inputs, _v)[_ror.Graph.Outputs[^1].Name].GetDouble(0);

    /// <summary>Forward-over-reverse (transpose trick): returns the first element of H·v.</summary>
    public double ForwardOverReverse() => _for.Evaluate(First.Inputs, _v)["jvp"].GetDouble(0);
}
