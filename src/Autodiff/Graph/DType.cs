namespace Autodiff;

/// <summary>Element type of a tensor or a graph node.</summary>
public enum DType
{
    /// <summary>32-bit IEEE float.</summary>
    F32,
    /// <summary>64-bit IEEE float.</summary>
    F64,
    /// <summary>64-bit signed integer, used for class indices.</summary>
    I64,
}

/// <summary>Helpers for <see cref="DType"/>.</summary>
public static class DTypeExtensions
{
    /// <summary>The expression-language spelling: <c>f32</c>, <c>f64</c> or <c>i64</c>.</summary>
    public static string Name(this DType t) => t switch
    {
        DType.F32 => "f32",
        DType.F64 => "f64",
        DType.I64 => "i64",
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>Bytes per element: 4 for <see cref="DType.F32"/>, 8 for <see cref="DType.F64"/> and <see cref="DType.I64"/>.</summary>
    public static int ByteSize(this DType t) => t == DType.F32 ? 4 : 8;

    /// <summary>True for <see cref="DType.F32"/> and <see cref="DType.F64"/>.</summary>
    public static bool IsFloat(this DType t) => t is DType.F32 or DType.F64;

    /// <summary>The <see cref="DType"/> of a CLR element type.</summary>
    public static DType Of<T>() =>
        typeof(T) == typeof(float) ? DType.F32 :
        typeof(T) == typeof(double) ? DType.F64 :
        typeof(T) == typeof(long) ? DType.I64 :
        throw new NotSupportedException($"element type {typeof(T).Name} is not supported (supported: float for f32, double for f64, long for i64)");
}
