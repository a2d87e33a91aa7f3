using Autodiff.Text;

namespace Autodiff.Tests.Runtime;

/// <summary>The elementwise ops and sum/mean overwrite an operand's gradient buffer when the tape plans them as its first
/// writer (the buffer is then not zeroed). Each program mixes them with fan-out (a node used by several ops), an operand used
/// twice by one op (x * x) and broadcasting; one tape runs it twice with different inputs, so a buffer that is neither zeroed
/// nor fully overwritten would carry the first run's gradient into the second.</summary>
public class GradientOverwriteTests
{
    public static TheoryData<string, string> Programs() => new()
    {
        {
            "fan-out and x * x",
            """
            input x: f64[3, 4]
            e = exp(x)
            y = sum(e * x + x * x - e)
            """
        },
        {
            "unary chain",
            """
            input x: f64[3, 4]
            input y: f64[3, 4]
            a = tanh(x) * sigmoid(y)
            r = -mean(log(1 + square(a)) + sqrt(square(y) + 1) / (2 + a))
            """
        },
        {
            "broadcast: trailing, per-row, scalar",
            """
            input x: f64[3, 4]
            input b: f64[4]
            input c: f64[3, 1]
            h = x * b + c * 2
            r = sum(relu(h) + softplus(h) * c - b)
            """
        },
        {
            "naive cross-entropy",
            """
            input z: f64[4, 5]
            input t: i64[4] classes(5)
            loss = -mean(sum(one_hot(t, 5, dtype=f64) * log(exp(z) / sum(exp(z), axis=1, keepdims=true)), axis=1))
            """
        },
        {
            "reductions over leading and middle axes",
            """
            input x: f64[2, 3, 4]
            m = mean(x, axis=1, keepdims=true)
            s = sum(x, axis=0)
            r = sum(square(x - m) * s) + mean(abs(x)) + sum(mean(exp(x), axis=1, keepdims=true) * sum(tanh(x), axis=0))
            """
        },
        {
            "maximum, minimum, pow, div",
            """
            input x: f64[3, 4]
            input y: f64[3, 4]
            p = pow(1 + square(x), y)
            r = sum(maximum(x, y) * p - minimum(x, p) / (1 + exp(y)))
            """
        },
        {
            "zero derivatives and logaddexp",
            """
            input x: f64[3, 4]
            input y: f64[3, 4]
            r = sum(logaddexp(x, y) + sign(y) + log_sigmoid(y) * x + x / y)
            """
        },
        {
            "sum of a sum, mean of a mean",
            """
            input x: f64[5, 3]
            a = sum(x, axis=1)
            r = mean(mean(x, axis=0) * 3) + sum(a * a) - sum(neg(a))
            """
        },
    };

    [Theory]
    [MemberData(nameof(Programs))]
    public void TwoRunsOfOneTapeMatchTheSymbolicGradientAndFiniteDifferences(string name, string program)
    {
        var graph = Parser.Parse(program);
        var tape = new Tape(graph);
        foreach (int seed in new[] { 1, 2 })
        {
            var inputs = Inputs(graph, seed);
            var grads = tape.Run(inputs).Gradients;
            foreach (var (input, expr) in SymbolicGradient.Of(graph))
            {
                var expected = new Tape(graph.WithOutput(expr.Node), []).Forward(inputs).ToDoubleArray();
                var actual = grads[input].ToDoubleArray();
                for (int i = 0; i < expected.Length; i++)
                    Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-10 * Math.Max(1, Math.Abs(expected[i])),
                        $"{name}, run {seed}: d/d{input}[{i}] is {actual[i]}, symbolic {expected[i]}");
            }
            var check = GradientChecker.Check(graph, inputs);
            Assert.True(check.Passed, $"{name}, run {seed}: {check}");
        }
    }

    /// <summary>Which operands each op offers to overwrite: every operand of a unary op and of sum/mean, a binary op's
    /// operands of the output's shape only, nothing when both operands are one node, and nothing for max (which adds into
    /// the entries that attain it only).</summary>
    [Fact]
    public void OpsOfferToOverwriteOnlyOperandsTheyWriteWhole()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 3, 4);
        var row = b.Input("row", DType.F64, 3, 1);
        var cases = new (Expr Node, bool[] Overwritable)[]
        {
            (x.Exp(), [true]),
            (-x, [true]),
            (x.Sum(1), [true]),
            (x.Mean(0, keepDims: true), [true]),
            (x.Max(1), [false]),
            (x + row, [true, false]),
            (row * x, [false, true]),
            (x * 2, [true, false]),
            (x * x, [false, false]),
            (x.LogAddExp(x.Exp()), [true, true]),
        };
        foreach (var (node, overwritable) in cases)
        {
            for (int j = 0; j < overwritable.Length; j++)
                Assert.True(overwritable[j] == node.Node.Op.CanOverwriteGradient(node.Node, j), $"{node.Node.Op.Name} operand {j}");
        }
    }

    /// <summary>Normal floats; class indices for i64 inputs (every program's classes are at least 5).</summary>
    private static Dictionary<string, Tensor> Inputs(Graph graph, int seed)
    {
        var rnd = new Random(seed);
        var inputs = new Dictionary<string, Tensor>();
        foreach (var n in graph.Inputs)
        {
            var io = (InputOp)n.Op;
            inputs[io.InputName] = io.Type == DType.I64
                ? Tensor.FromArray(Enumerable.Range(0, n.Shape.Size).Select(_ => (long)rnd.Next(5)).ToArray(), n.Shape.ToArray())
                : Tensor.RandomNormal(io.Type, n.Shape, rnd);
        }
        return inputs;
    }
}
