namespace Autodiff.Training;

/// <summary>Seeded weight initializers (the formulas of PyTorch's <c>torch.nn.init</c>). Every one draws from the
/// <see cref="Random"/> it is given, so <c>new Random(seed)</c> makes the weights reproducible.
/// <para>Fans: a weight of shape <c>[in, out]</c> multiplies as <c>x.MatMul(w)</c> (rows of x are samples), so
/// fan-in is <c>shape[^2]</c> and fan-out <c>shape[^1]</c>, each times the product of the leading dimensions for a rank
/// above 2 (PyTorch stores a linear layer's weight transposed, <c>[out, in]</c>, and reads its fans the other way round).
/// A rank below 2 has no fans: initialize biases with <see cref="Tensor.Zeros(DType, int[])"/> or pass the fans
/// explicitly.</para></summary>
public static class Init
{
    /// <summary>√2, the gain for ReLU layers (PyTorch's <c>calculate_gain("relu")</c>).</summary>
    public const double ReluGain = 1.4142135623730951;

    /// <summary>The fans of a weight of <paramref name="shape"/> (see the class remarks).</summary>
    public static (int FanIn, int FanOut) Fans(Shape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Rank < 2)
            throw new AutodiffException($"init: a weight of shape {shape} has no fan-in and fan-out (rank {shape.Rank} < 2); pass the fans explicitly");
        long receptive = 1;
        for (int i = 0; i < shape.Rank - 2; i++) receptive *= shape[i];
        return ((int)(shape[^2] * receptive), (int)(shape[^1] * receptive));
    }

    /// <summary>Glorot/Xavier uniform: U(−a, a) with <c>a = gain · √(6 / (fanIn + fanOut))</c>.</summary>
    public static Tensor GlorotUniform(DType dtype, Shape shape, Random rng, double gain = 1)
    {
        var (i, o) = Fans(shape);
        return GlorotUniform(dtype, shape, rng, i, o, gain);
    }

    /// <summary>Glorot/Xavier uniform with explicit fans.</summary>
    public static Tensor GlorotUniform(DType dtype, Shape shape, Random rng, int fanIn, int fanOut, double gain = 1)
    {
        CheckFans(fanIn, fanOut);
        double a = gain * Math.Sqrt(6.0 / (fanIn + fanOut));
        return Uniform(dtype, shape, rng, -a, a);
    }

    /// <summary>Glorot/Xavier normal: N(0, σ²) with <c>σ = gain · √(2 / (fanIn + fanOut))</c>.</summary>
    public static Tensor GlorotNormal(DType dtype, Shape shape, Random rng, double gain = 1)
    {
        var (i, o) = Fans(shape);
        return GlorotNormal(dtype, shape, rng, i, o, gain);
    }

    /// <summary>Glorot/Xavier normal with explicit fans.</summary>
    public static Tensor GlorotNormal(DType dtype, Shape shape, Random rng, int fanIn, int fanOut, double gain = 1)
    {
        CheckFans(fanIn, fanOut);
        return Normal(dtype, shape, rng, 0, gain * Math.Sqrt(2.0 / (fanIn + fanOut)));
    }

    /// <summary>He/Kaiming uniform (fan-in mode): U(−b, b) with <c>b = gain · √(3 / fanIn)</c>; the default gain √2 is
    /// the one for ReLU, so <c>b = √(6 / fanIn)</c>.</summary>
    public static Tensor HeUniform(DType dtype, Shape shape, Random rng, double gain = ReluGain) =>
        HeUniform(dtype, shape, rng, Fans(shape).FanIn, gain);

    /// <summary>He/Kaiming uniform with an explicit fan-in.</summary>
    public static Tensor HeUniform(DType dtype, Shape shape, Random rng, int fanIn, double gain = ReluGain)
    {
        CheckFans(fanIn, 1);
        double b = gain * Math.Sqrt(3.0 / fanIn);
        return Uniform(dtype, shape, rng, -b, b);
    }

    /// <summary>He/Kaiming normal (fan-in mode): N(0, σ²) with <c>σ = gain / √fanIn</c>; the default gain √2 is the one
    /// for ReLU, so <c>σ = √(2 / fanIn)</c>.</summary>
    public static Tensor HeNormal(DType dtype, Shape shape, Random rng, double gain = ReluGain) =>
        HeNormal(dtype, shape, rng, Fans(shape).FanIn, gain);

    /// <summary>He/Kaiming normal with an explicit fan-in.</summary>
    public static Tensor HeNormal(DType dtype, Shape shape, Random rng, int fanIn, double gain = ReluGain)
    {
        CheckFans(fanIn, 1);
        return Normal(dtype, shape, rng, 0, gain / Math.Sqrt(fanIn));
    }

    /// <summary>Independent draws from U(<paramref name="low"/>, <paramref name="high"/>).</summary>
    public static Tensor Uniform(DType dtype, Shape shape, Random rng, double low, double high)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (!double.IsFinite(low) || !double.IsFinite(high) || low > high)
            throw new AutodiffException($"init: uniform bounds [{low}, {high}] must be finite with low <= high");
        var t = FloatTensor(dtype, shape);
        for (int i = 0; i < t.Size; i++) t.SetDouble(i, low + (high - low) * rng.NextDouble());
        return t;
    }

    /// <summary>Independent draws from N(<paramref name="mean"/>, <paramref name="std"/>²) (Box–Muller, both values of
    /// each pair used).</summary>
    public static Tensor Normal(DType dtype, Shape shape, Random rng, double mean, double std)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (!double.IsFinite(mean) || !double.IsFinite(std) || std < 0)
            throw new AutodiffException($"init: normal with mean {mean} and standard deviation {std}: both must be finite and the deviation >= 0");
        var t = FloatTensor(dtype, shape);
        for (int i = 0; i < t.Size; i += 2)
        {
            double r = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())), angle = 2 * Math.PI * rng.NextDouble();
            t.SetDouble(i, mean + std * r * Math.Cos(angle));
            if (i + 1 < t.Size) t.SetDouble(i + 1, mean + std * r * Math.Sin(angle));
        }
        return t;
    }

    private static Tensor FloatTensor(DType dtype, Shape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (!dtype.IsFloat()) throw new AutodiffException($"init: weights must be f32 or f64, not {dtype.Name()}");
        return Tensor.Zeros(dtype, shape);
    }

    private static void CheckFans(int fanIn, int fanOut)
    {
        if (fanIn < 1 || fanOut < 1) throw new AutodiffException($"init: fans must be at least 1, not fan-in {fanIn} and fan-out {fanOut}");
    }
}
