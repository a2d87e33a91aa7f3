using System.Numerics;
using System.Numerics.Tensors;
using Autodiff.Kernels;

namespace Autodiff;

/// <summary>An input's value contradicts a fact declared on it (<see cref="InputFacts"/>), which the simplifier may have
/// relied on: its rewrites would compute something else than the program as written.</summary>
public sealed class InputFactException : AutodiffException
{
    /// <summary>Creates the exception; the message names the input, the fact and where the value breaks it.</summary>
    public InputFactException(string input, string fact, string location, string message) : base(message)
    {
        Input = input;
        Fact = fact;
        Location = location;
    }

    /// <summary>The input's name.</summary>
    public string Input { get; }

    /// <summary>The fact as the language writes it, e.g. <c>probs(axis=1)</c>.</summary>
    public string Fact { get; }

    /// <summary>Where the value breaks it: an element index such as <c>[1, 0]</c>, or a row such as <c>row 0</c>.</summary>
    public string Location { get; }
}

/// <summary>Checks input values against their declared facts (see <see cref="InputFacts.Check"/>).</summary>
internal static class FactCheck
{
    /// <summary>The tolerance on a probability row's sum for rows of <paramref name="n"/> entries:
    /// <see cref="Tolerance.Relative"/> of the element type plus n units of rounding (2⁻²⁴ for f32, 2⁻⁵³ for f64).</summary>
    public static double RowSumTolerance(DType dtype, int n) =>
        Tolerance.For(dtype).Relative + (n * (dtype == DType.F32 ? 5.9604644775390625e-8 : 1.1102230246251565e-16));

    public static void Check(InputFacts facts, string input, Tensor value)
    {
        if (facts.Classes is int c) Classes(facts, input, value, c);
        if (!value.DType.IsFloat()) return;
        if (value.DType == DType.F32) Float<float>(facts, input, value);
        else Float<double>(facts, input, value);
    }

    private static void Classes(InputFacts facts, string input, Tensor value, int c)
    {
        if (value.DType != DType.I64) return;
        var t = (long[])value.Data;
        for (int i = 0; i < value.Size; i++)
            if (t[i] < 0 || t[i] >= c)
                throw Violation(input, $"classes({c})", value.Shape.FormatIndex(i), $"{input}{value.Shape.FormatIndex(i)} = {t[i]} is not a class index in [0, {c})");
    }

    private static void Float<T>(InputFacts facts, string input, Tensor value)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = (T[])value.Data;
        if (facts.IsPositive && x.Length > 0 && !(TensorPrimitives.Min<T>(x) > T.Zero))
        {
            int i = Array.FindIndex(x, v => !(v > T.Zero));
            throw Violation(input, "positive", value.Shape.FormatIndex(i), $"{input}{value.Shape.FormatIndex(i)} = {Tensor.FormatNumber(double.CreateTruncating(x[i]), value.DType)} is not > 0");
        }
        if (facts.ProbsAxis is int a) Probs(input, value, x, value.Shape.Axis(a, "probs"));
    }

    /// <summary>Row by row: entries ≥ 0 (not NaN), and the row along the axis summing to 1 within
    /// <see cref="RowSumTolerance"/> (summed in double). Rows of length 0 (an empty class axis) have no sum to check.</summary>
    private static void Probs<T>(string input, Tensor value, T[] x, int axis)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shape = value.Shape;
        string fact = $"probs(axis={axis})";
        bool anyBad = x.Length > 0 && !(TensorPrimitives.Min<T>(x) >= T.Zero);   // one vector pass; rows are searched only then
        int outer = shape.Product(0, axis), n = shape[axis], inner = shape.Product(axis + 1, shape.Rank);
        double tol = RowSumTolerance(value.DType, n);
        for (int o = 0; o < outer; o++)
            for (int k = 0; k < inner; k++)
            {
                int start = (o * n * inner) + k;
                if (anyBad)
                    for (int j = 0; j < n; j++)
                    {
                        int i = start + (j * inner);
                        if (x[i] >= T.Zero) continue;
                        string what = T.IsNaN(x[i]) ? "is NaN" : "is negative";
                        throw Violation(input, fact, shape.FormatIndex(i), $"{input}{shape.FormatIndex(i)} = {Tensor.FormatNumber(double.CreateTruncating(x[i]), value.DType)} {what}");
                    }
                if (n == 0) continue;
                double s;
                if (inner == 1)
                {
                    s = SoftmaxCrossEntropy.SumInDouble<T>(x.AsSpan(start, n));
                }
                else
                {
                    s = 0;
                    for (int j = 0; j < n; j++) s += double.CreateTruncating(x[start + (j * inner)]);
                }
                if (!(Math.Abs(s - 1) <= tol))
                {
                    string row = Row(shape, axis, start);
                    throw Violation(input, fact, row, $"{row} sums to {s.ToString("G9", System.Globalization.CultureInfo.InvariantCulture)} (allowed: 1 ± {tol.ToString("0.#e+00", System.Globalization.CultureInfo.InvariantCulture)})");
                }
            }
    }

    private static InputFactException Violation(string input, string fact, string location, string detail) =>
        new(input, fact, location, $"input '{input}' is declared {fact}, but {detail}");

    /// <summary>The row through flat index <paramref name="start"/> along <paramref name="axis"/>: <c>row 3</c> for a
    /// matrix along its last axis, otherwise the index with the axis written as <c>:</c>, e.g. <c>row [:, 2]</c>.</summary>
    private static string Row(Shape shape, int axis, int start)
    {
        var idx = shape.Unravel(start);
        if (shape.Rank == 2 && axis == 1) return $"row {idx[0]}";
        if (shape.Rank == 1) return "the vector";
        return "row [" + string.Join(", ", idx.Select((v, d) => d == axis ? ":" : v.ToString(System.Globalization.CultureInfo.InvariantCulture))) + "]";
    }
}
