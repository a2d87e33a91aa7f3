using System.Globalization;

namespace Autodiff.Cli;

/// <summary>Number formatting and aligned tables for text output.</summary>
internal static class Format
{
    /// <summary>A number as it round-trips (<c>nan</c>, <c>inf</c>, <c>-inf</c> for non-finite values).</summary>
    public static string Number(double v, DType dtype = DType.F64) => Tensor.FormatNumber(v, dtype);

    /// <summary>A difference or tolerance in short scientific-ish form, e.g. <c>1.192e-07</c>.</summary>
    public static string Short(double v) =>
        double.IsNaN(v) ? "nan" : double.IsPositiveInfinity(v) ? "inf" : double.IsNegativeInfinity(v) ? "-inf" :
        v == 0 ? "0" : v.ToString(Math.Abs(v) >= 1e-3 && Math.Abs(v) < 1e6 ? "0.####" : "0.###e+00", CultureInfo.InvariantCulture);

    /// <summary>Milliseconds with three decimals.</summary>
    public static string Ms(double ms) => ms.ToString("0.000", CultureInfo.InvariantCulture);

    /// <summary>Rows of cells padded to the widest cell of each column (the last column is not padded).</summary>
    public static IEnumerable<string> Table(IReadOnlyList<string[]> rows)
    {
        int cols = rows.Max(r => r.Length);
        var width = new int[cols];
        foreach (var r in rows)
            for (int i = 0; i < r.Length; i++) width[i] = Math.Max(width[i], r[i].Length);
        foreach (var r in rows)
            yield return string.Join("  ", r.Select((c, i) => i == r.Length - 1 ? c : c.PadRight(width[i]))).TrimEnd();
    }
}
