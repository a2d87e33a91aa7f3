using Autodiff.Kernels;
using BenchmarkDotNet.Attributes;

namespace Autodiff.Benchmarks;

/// <summary>Forward+backward of <c>prod(x)</c> over one row of N factors (float64, one thread): the backward is the
/// leave-one-out product by prefix and suffix products, O(N), so the time should grow linearly in N. Compare with
/// <see cref="QuadraticLeaveOneOutBenchmarks"/>, the same gradient computed one leave-one-out product at a time.</summary>
[MemoryDiagnoser]
public class ProductBenchmarks
{
    private Tape _tape = null!;
    private Dictionary<string, Tensor> _inputs = null!;

    /// <summary>Number of factors.</summary>
    [Params(1_000, 10_000, 100_000, 1_000_000)]
    public int N { get; set; }

    /// <summary>Builds the graph, the tape and the factors (near ±1, so the products stay finite, with one zero).</summary>
    [GlobalSetup]
    public void Setup()
    {
        Parallelism.DegreeOfParallelism = 1;
        var b = new GraphBuilder();
        _tape = new Tape(b.Build(b.Input("x", DType.F64, N).Prod()));
        _inputs = new() { ["x"] = Tensor.FromArray(ProductFactors.Make(N), N) };
    }

    /// <summary>One forward and backward pass.</summary>
    [Benchmark]
    public double ForwardBackward()
    {
        var (_, grads) = _tape.Run(_inputs);
        return grads["x"].GetDouble(N / 2);
    }
}

/// <summary>The leave-one-out products Π_{j≠i} x_j computed from scratch for every i: O(N²), the naive gradient of a
/// product that the prefix/suffix recursion replaces (N up to where it is still feasible).</summary>
public class QuadraticLeaveOneOutBenchmarks
{
    private double[] _x = null!;
    private double[] _g = null!;

    /// <summary>Number of factors.</summary>
    [Params(1_000, 10_000, 30_000)]
    public int N { get; set; }

    /// <summary>The factors.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _x = ProductFactors.Make(N);
        _g = new double[N];
    }

    /// <summary>All N leave-one-out products.</summary>
    [Benchmark]
    public double LeaveOneOut() => ProductFactors.Quadratic(_x, _g);
}

/// <summary>Inputs and the quadratic reference loop shared by the product benchmarks.</summary>
public static class ProductFactors
{
    /// <summary>N factors e^u with u uniform in ±0.005 and random signs, entry N/3 set to 0.</summary>
    public static double[] Make(int n)
    {
        var rng = new Random(1);
        var x = new double[n];
        for (int i = 0; i < n; i++) x[i] = (rng.Next(2) == 0 ? -1 : 1) * Math.Exp(0.01 * (rng.NextDouble() - 0.5));
        x[n / 3] = 0;
        return x;
    }

    /// <summary>g[i] = Π_{j≠i} x[j], each from scratch; returns g[N/2].</summary>
    public static double Quadratic(double[] x, double[] g)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double p = 1;
            for (int j = 0; j < x.Length; j++) if (j != i) p *= x[j];
            g[i] = p;
        }
        return g[x.Length / 2];
    }
}
