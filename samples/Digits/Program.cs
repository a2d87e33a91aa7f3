// A small MLP on the UCI handwritten digits (1,797 8×8 images), trained with the library's Adam, He initialization and a
// cosine learning-rate schedule, checkpointed in the safetensors format. See README.md (data, licence, options).
using System.Globalization;
using System.IO.Compression;
using Autodiff;
using Autodiff.Rewrite;
using Autodiff.Training;

int epochs = 30, seed = 1;
bool compare = false;
string? checkpoint = null;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--epochs" when i + 1 < args.Length && int.TryParse(args[i + 1], out epochs) && epochs > 0: i++; break;
        case "--seed" when i + 1 < args.Length && int.TryParse(args[i + 1], out seed): i++; break;
        case "--checkpoint" when i + 1 < args.Length: checkpoint = args[++i]; break;
        case "--compare": compare = true; break;
        default:
            Console.Error.WriteLine($"digits: unknown or incomplete option '{args[i]}' (options: --epochs N, --seed S, --compare, --checkpoint PATH)");
            return 2;
    }
}

// The data: 64 pixels in 0..16, scaled to [0, 1], and the class; a seeded 80/20 split.
const int Pixels = 64, Classes = 10, Hidden = 64, Batch = 32;
using var gz = new GZipStream(File.OpenRead(Path.Combine(AppContext.BaseDirectory, "digits.csv.gz")), CompressionMode.Decompress);
var rows = new StreamReader(gz).ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries)
    .Select(l => l.Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();
var rng = new Random(seed);
rng.Shuffle(rows);
int nTest = rows.Length / 5, nTrain = rows.Length - nTest;
var train = rows[..nTrain];
var test = rows[nTrain..];
Console.WriteLine($"digits: {rows.Length} images, {nTrain} to train, {nTest} to test; MLP {Pixels}-{Hidden}-{Classes}, Adam, batches of {Batch}, {epochs} epochs");

// The model and the loss, written by hand; the simplifier fuses the loss into one node.
static Expr Logits(GraphBuilder b, int rows)
{
    var x = b.Input("x", DType.F32, rows, Pixels);
    var h = (x.MatMul(b.Input("w1", DType.F32, Pixels, Hidden)) + b.Input("b1", DType.F32, Hidden)).Relu();
    return h.MatMul(b.Input("w2", DType.F32, Hidden, Classes)) + b.Input("b2", DType.F32, Classes);
}
var builder = new GraphBuilder();
var z = Logits(builder, Batch);
var t = builder.Input("t", DType.I64, new Shape(Batch), InputFacts.ClassIndices(Classes));
var e = z.Exp();
var q = e / e.Sum(1, keepDims: true);
var naive = builder.Build(-(t.OneHot(Classes) * q.Log()).Sum(1).Mean());
var simplified = Simplifier.Simplify(naive).After;
Console.WriteLine($"simplified loss: {simplified}");

ParameterSet NewModel()
{
    var init = new Random(seed);
    var ps = new ParameterSet();
    ps.Add("w1", Init.HeNormal(DType.F32, new Shape(Pixels, Hidden), init));
    ps.Add("b1", Tensor.Zeros(DType.F32, Hidden));
    ps.Add("w2", Init.GlorotUniform(DType.F32, new Shape(Hidden, Classes), init));
    ps.Add("b2", Tensor.Zeros(DType.F32, Classes));
    return ps;
}

var runs = (compare ? new[] { ("naive", naive), ("simplified", simplified) } : [("simplified", simplified)])
    .Select(r => (Name: r.Item1, Model: NewModel(), Graph: r.Item2)).ToArray();
var trainers = runs.Select(r =>
{
    var inputs = new Dictionary<string, Tensor> { ["x"] = Tensor.Zeros(DType.F32, Batch, Pixels), ["t"] = Tensor.Zeros(DType.I64, Batch) };
    r.Model.Feed(inputs);
    var tape = new Tape(r.Graph, r.Model.Select(p => p.Name));
    var adam = new Adam(r.Model, learningRate: 0.01)
    {
        Schedule = LearningRateSchedule.CosineWithWarmup(0.01, warmupSteps: 20, totalSteps: (long)epochs * (nTrain / Batch)),
    };
    return (Inputs: inputs, Tape: tape, Optimizer: adam);
}).ToArray();

var order = Enumerable.Range(0, nTrain).ToArray();
var shuffle = new Random(seed + 1);
for (int epoch = 1; epoch <= epochs; epoch++)
{
    shuffle.Shuffle(order);
    var loss = new double[runs.Length];
    int batches = nTrain / Batch;   // the last partial batch is left out; the order changes every epoch
    for (int k = 0; k < batches; k++)
        for (int r = 0; r < runs.Length; r++)
        {
            var (inputs, tape, adam) = trainers[r];
            Fill(inputs["x"], inputs["t"], train, order.AsSpan(k * Batch, Batch));
            var (value, grads) = tape.Run(inputs);
            loss[r] += value.Item() / batches;
            adam.Step(grads);
        }
    Console.WriteLine($"epoch {epoch,3}  " + string.Join("  ", runs.Select((r, i) => $"{r.Name} loss {loss[i]:F4}")));
}
if (compare)
{
    double diff = runs[0].Model.Max(p => p.Value.ToDoubleArray().Zip(runs[1].Model[p.Name].Value.ToDoubleArray(), (a, b) => Math.Abs(a - b)).Max());
    Console.WriteLine($"largest difference between the naive and the simplified model's weights: {diff:G3}");
}

// Save the model, load it into a fresh one, and test that.
var model = runs[^1].Model;
string path = checkpoint ?? Path.Combine(Path.GetTempPath(), $"digits-{Environment.ProcessId}.safetensors");
model.Save(path, new Dictionary<string, string> { ["epochs"] = epochs.ToString(CultureInfo.InvariantCulture), ["seed"] = seed.ToString(CultureInfo.InvariantCulture) });
var loaded = NewModel();
loaded.Load(path);
if (checkpoint is null) File.Delete(path);
else Console.WriteLine($"checkpoint: {path}");

var eb = new GraphBuilder();
var predict = eb.Build(Logits(eb, nTest));
var testInputs = new Dictionary<string, Tensor> { ["x"] = Tensor.Zeros(DType.F32, nTest, Pixels) };
loaded.Feed(testInputs);
Fill(testInputs["x"], null, test, Enumerable.Range(0, nTest).ToArray());
var scores = new Tape(predict, []).Forward(testInputs).Span<float>();
int correct = 0;
for (int i = 0; i < nTest; i++)
{
    var row = scores.Slice(i * Classes, Classes);
    if (row.IndexOf(System.Numerics.Tensors.TensorPrimitives.Max(row)) == test[i][Pixels]) correct++;
}
Console.WriteLine($"test accuracy: {(double)correct / nTest:F3}");
return 0;

static void Fill(Tensor x, Tensor? labels, int[][] rows, ReadOnlySpan<int> which)
{
    var xs = x.Span<float>();
    for (int i = 0; i < which.Length; i++)
    {
        var r = rows[which[i]];
        for (int j = 0; j < Pixels; j++) xs[i * Pixels + j] = r[j] / 16f;
        if (labels is not null) labels.Span<long>()[i] = r[Pixels];
    }
}
