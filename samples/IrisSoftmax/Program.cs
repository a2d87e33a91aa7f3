// Softmax regression on the Iris data set (Fisher, 1936; 150 rows in iris.csv), trained twice with full-batch gradient
// descent: once through the naive graph (exp / sum / div / log / one_hot, as written by hand) and once through the graph
// the simplifier produces (one sparse_softmax_cross_entropy node with the closed-form gradient q − p).
using System.Globalization;
using Autodiff;
using Autodiff.Rewrite;

var lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "iris.csv")).Skip(1).Where(l => l.Length > 0).ToArray();
string[] species = ["setosa", "versicolor", "virginica"];
int n = lines.Length, d = 4, c = species.Length;
var x = new double[n * d];
var t = new long[n];
for (int i = 0; i < n; i++)
{
    var f = lines[i].Split(',');
    for (int j = 0; j < d; j++) x[i * d + j] = double.Parse(f[j], CultureInfo.InvariantCulture);
    t[i] = Array.IndexOf(species, f[d]);
}
for (int j = 0; j < d; j++)   // standardize each feature
{
    double mean = Enumerable.Range(0, n).Average(i => x[i * d + j]);
    double sd = Math.Sqrt(Enumerable.Range(0, n).Average(i => Math.Pow(x[i * d + j] - mean, 2)));
    for (int i = 0; i < n; i++) x[i * d + j] = (x[i * d + j] - mean) / sd;
}

var b = new GraphBuilder();
var X = b.Input("x", DType.F64, n, d);
var T = b.Input("t", DType.I64, new Shape(n), InputFacts.ClassIndices(c));
var W = b.Input("w", DType.F64, d, c);
var B = b.Input("b", DType.F64, c);
var z = X.MatMul(W) + B;
var e = z.Exp();
var q = e / e.Sum(1, keepDims: true);
var naive = b.Build(-(T.OneHot(c, DType.F64) * q.Log()).Sum(1).Mean());
var simplified = Simplifier.Simplify(naive);
Console.WriteLine($"simplified program (rules fired: {string.Join(", ", simplified.Rewrites.Select(r => r.Rule).Distinct())}):");
Console.WriteLine(simplified.After);
var predict = b.Build(z);

foreach (var (name, graph) in new[] { ("naive", naive), ("simplified", simplified.After) })
{
    var w = Tensor.Zeros(DType.F64, d, c);
    var bias = Tensor.Zeros(DType.F64, c);
    var inputs = new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(x, n, d), ["t"] = Tensor.FromArray(t, n), ["w"] = w, ["b"] = bias };
    var tape = new Tape(graph, ["w", "b"]);
    Console.WriteLine($"\n{name} graph");
    const double rate = 1.0;
    for (int epoch = 1; epoch <= 40; epoch++)
    {
        var (loss, grads) = tape.Run(inputs);
        Console.WriteLine($"  epoch {epoch,2}  loss {loss.GetDouble(0):F6}");
        for (int i = 0; i < w.Size; i++) w.SetDouble(i, w.GetDouble(i) - rate * grads["w"].GetDouble(i));
        for (int i = 0; i < bias.Size; i++) bias.SetDouble(i, bias.GetDouble(i) - rate * grads["b"].GetDouble(i));
    }
    var scores = new Tape(predict, []).Forward(inputs);
    int correct = Enumerable.Range(0, n).Count(i => Enumerable.Range(0, c).MaxBy(k => scores[i, k]) == t[i]);
    Console.WriteLine($"  accuracy {correct}/{n} = {100.0 * correct / n:F1}%");
}
