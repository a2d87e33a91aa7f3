using Autodiff.Rewrite;
using Autodiff.Text;
using CsCheck;

namespace Autodiff.Tests.Rewrite;

/// <summary>Random graphs over the core ops and the patterns the rules look for: <c>simplify(g)</c> must give the same value
/// and the same gradients as <c>g</c> (float64, relative 1e-9 where the naive graph is finite), and never turn a finite
/// result into a non-finite one, under both sharing policies. Each case is built from one integer seed, printed with the program on failure.</summary>
public class DifferentialTests
{
    /// <summary>Builds a random program from <paramref name="seed"/>.</summary>
    public sealed class RandomProgram
    {
        private readonly Random _rng;
        private readonly GraphBuilder _b = new();
        private readonly Expr _x, _y, _p, _w;
        private readonly Expr _t;
        private readonly int _n, _c;

        public RandomProgram(int seed)
        {
            _rng = new Random(seed);
            _n = _rng.Next(1, 5);
            _c = _rng.Next(1, 6);
            _x = _b.Input("x", DType.F64, _n, _c);
            _y = _b.Input("y", DType.F64, _n, _c);
            _w = _b.Input("w", DType.F64, _c);
            _p = _b.Input("p", DType.F64, new Shape(_n, _c), InputFacts.Probs(1));
            _t = _b.Input("t", DType.I64, new Shape(_n), InputFacts.ClassIndices(_c));
            var m = Matrix(3);
            var r = Row(2);
            Graph = _b.Build((m * _x).Sum() + r.Sum());
        }

        public Graph Graph { get; }

        private int Pick(int n) => _rng.Next(n);

        private Expr Leaf() => Pick(4) switch { 0 => _x, 1 => _y, 2 => _x * _w, _ => _x - _y };

        /// <summary>An [n, c] expression.</summary>
        private Expr Matrix(int depth)
        {
            if (depth == 0) return Leaf();
            var a = Matrix(depth - 1);
            int axis = Pick(2);
            Expr Softmax(Expr v) { var e = v.Exp(); return e / e.Sum(axis, keepDims: true); }
            return Pick(14) switch
            {
                0 => Softmax(a),
                1 => Softmax(a - a.Max(axis, keepDims: true)),
                2 => (Softmax(a)).Log(),
                3 => a - a.Exp().Sum(axis, keepDims: true).Log(),
                4 => (1 + a.Exp()).Log(),
                5 => 1 / (1 + (-a).Exp()),
                6 => (a.Exp() + Matrix(depth - 1).Exp()).Log(),
                7 => a * (1 / (1 + a.Square())),
                8 => -(-a),
                9 => a * 1 + Matrix(depth - 1),
                10 => a.Tanh() * Matrix(depth - 1),
                11 => a + Row(depth - 1).Unsqueeze(1),
                12 => a.Exp().Log(),
                _ => (1 / (1 + (-a).Exp())).Log(),
            };
        }

        /// <summary>An [n] expression.</summary>
        private Expr Row(int depth)
        {
            var a = Matrix(depth);
            Expr Q(Expr v) { var e = v.Exp(); return e / e.Sum(1, keepDims: true); }
            Expr Targets() => Pick(5) switch
            {
                0 => _p,
                1 => _t.OneHot(_c, DType.F64),
                2 => Q(_y),
                3 => 0.8 * _t.OneHot(_c, DType.F64) + 0.2 / _c,
                _ => _y,   // not proved to sum to 1: must not fuse into softmax_cross_entropy
            };
            return Pick(7) switch
            {
                0 => a.Exp().Sum(1).Log(),
                1 => a.Max(1) + (a - a.Max(1, keepDims: true)).Exp().Sum(1).Log(),
                2 => -(Targets() * Q(a).Log()).Sum(1),
                3 => -a.Take(_t, 1) + Q(a).Log().Take(_t, 1) * -1,
                4 => (-(Targets() * Q(a).Log())).Sum(1),
                5 => -(_t.OneHot(_c, DType.F64) * (a - a.Exp().Sum(1, keepDims: true).Log())).Sum(1),
                _ => a.Sum(1) * 0.5,
            };
        }

        public Dictionary<string, Tensor> Inputs(double scale)
        {
            var v = new Dictionary<string, Tensor>
            {
                ["x"] = Tensor.RandomNormal(DType.F64, new Shape(_n, _c), _rng, scale),
                ["y"] = Tensor.RandomNormal(DType.F64, new Shape(_n, _c), _rng, scale),
                ["w"] = Tensor.RandomNormal(DType.F64, new Shape(_c), _rng),
            };
            var p = Tensor.Zeros(DType.F64, _n, _c);
            var t = Tensor.Zeros(DType.I64, _n);
            for (int i = 0; i < _n; i++)
            {
                var row = Enumerable.Range(0, _c).Select(_ => _rng.NextDouble() + 1e-3).ToArray();
                for (int j = 0; j < _c; j++) p.SetDouble(i * _c + j, row[j] / row.Sum());
                t.SetDouble(i, _rng.Next(_c));
            }
            v["p"] = p;
            v["t"] = t;
            return v;
        }
    }

    [Theory]
    [InlineData(SharingPolicy.Keep)]
    [InlineData(SharingPolicy.Recompute)]
    public void SimplifiedGraphAgreesWithNaiveGraph(SharingPolicy sharing)
    {
        int fused = 0, recomputed = 0;
        Gen.Int[0, int.MaxValue].Sample(seed =>
        {
            var prog = new RandomProgram(seed);
            var result = Simplifier.Simplify(prog.Graph, new SimplifyOptions(Sharing: sharing));
            if (result.Rewrites.Count > 0) Interlocked.Increment(ref fused);
            if (result.Rewrites.Any(s => s.Note is not null)) Interlocked.Increment(ref recomputed);
            var inputs = prog.Inputs(seed % 3 == 0 ? 3 : 1);
            var naive = new Tape(prog.Graph).Run(inputs);
            var simple = new Tape(result.After).Run(inputs);
            string Where() => $"seed {seed}\n{Printer.Print(prog.Graph)}\nsimplified:\n{Printer.Print(result.After)}";
            Close(naive.Value, simple.Value, "value", Where);
            foreach (var (name, g) in naive.Gradients) Close(g, simple.Gradients[name], "d/d" + name, Where);
        }, iter: 600, threads: 1);
        Assert.True(fused > 300, $"only {fused} of 600 random programs were rewritten at all");
        Assert.True(sharing == SharingPolicy.Keep || recomputed > 30, $"only {recomputed} of 600 random programs had a fusion recompute a shared node");
    }

    private static void Close(Tensor naive, Tensor simple, string what, Func<string> where)
    {
        Assert.Equal(naive.Shape, simple.Shape);
        for (int i = 0; i < naive.Size; i++)
        {
            double a = naive.GetDouble(i), b = simple.GetDouble(i);
            if (!double.IsFinite(a)) continue;   // stabilising may turn a non-finite naive result finite
            Assert.True(double.IsFinite(b), $"{what}[{i}]: naive {a:R} is finite but simplified gives {b:R}\n{where()}");
            Assert.True(Math.Abs(a - b) <= 1e-9 * Math.Max(1, Math.Abs(a)), $"{what}[{i}]: naive {a:R} vs simplified {b:R}\n{where()}");
        }
    }
}
