using System.Buffers.Binary;
using System.Text;
using Autodiff.Training;

namespace Autodiff.Tests.Training;

/// <summary>The safetensors reader and writer against files built byte by byte from the format's specification, round
/// trips, and a clear error for each way a file can break the format.</summary>
public class SafeTensorsTests
{
    /// <summary>A file as the specification lays it out: 8-byte little-endian header length, the JSON header, the data.</summary>
    private static byte[] File(string header, params byte[][] data)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new List<byte>();
        var n = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(n, (ulong)h.Length);
        bytes.AddRange(n);
        bytes.AddRange(h);
        foreach (var d in data) bytes.AddRange(d);
        return [.. bytes];
    }

    private static byte[] F32(params float[] xs) => xs.SelectMany(x => { var b = new byte[4]; BinaryPrimitives.WriteSingleLittleEndian(b, x); return b; }).ToArray();
    private static byte[] F64(params double[] xs) => xs.SelectMany(x => { var b = new byte[8]; BinaryPrimitives.WriteDoubleLittleEndian(b, x); return b; }).ToArray();
    private static byte[] I64(params long[] xs) => xs.SelectMany(x => { var b = new byte[8]; BinaryPrimitives.WriteInt64LittleEndian(b, x); return b; }).ToArray();

    [Fact]
    public void ReadsAFileWrittenByHandToTheSpec()
    {
        // Entries in another order than their data, metadata last, whitespace padding: all allowed by the format.
        var bytes = File("""{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]},"b":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"i":{"dtype":"I64","shape":[],"data_offsets":[32,40]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[40,40]},"__metadata__":{"format":"pt"}}   """,
            F64(0.5, -2), F32(1, 2, 3, 4.25f), I64(-7));
        var f = SafeTensors.Read(new MemoryStream(bytes));
        Assert.Equal(["b", "w", "i", "e"], f.Tensors.Keys);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal(DType.F64, f.Tensors["b"].DType);
        Assert.Equal([0.5, -2], f.Tensors["b"].ToDoubleArray());
        Assert.Equal(new Shape(2, 2), f.Tensors["w"].Shape);
        Assert.Equal([1, 2, 3, 4.25], f.Tensors["w"].ToDoubleArray());
        Assert.Equal(Shape.Scalar, f.Tensors["i"].Shape);
        Assert.Equal(-7L, f.Tensors["i"].Span<long>()[0]);
        Assert.Equal(new Shape(0, 3), f.Tensors["e"].Shape);
    }

    [Fact]
    public void WritesTheBytesTheSpecPrescribes()
    {
        var ms = new MemoryStream();
        SafeTensors.Write(ms, [new("w", Tensor.FromArray(new[] { 1f, -0.5f }, 2)), new("t", Tensor.FromArray(new[] { 3L }, 1, 1))],
            new Dictionary<string, string> { ["step"] = "10" });
        string header = """{"__metadata__":{"step":"10"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"t":{"dtype":"I64","shape":[1,1],"data_offsets":[8,16]}}""";
        header += new string(' ', (8 - header.Length % 8) % 8);
        Assert.Equal(File(header, F32(1, -0.5f), I64(3)), ms.ToArray());
        Assert.Equal(0, header.Length % 8);
    }

    [Fact]
    public void SaveThenLoadRoundTripsEveryBit()
    {
        var rng = new Random(3);
        var tensors = new Dictionary<string, Tensor>
        {
            ["layer.0.weight"] = Init.GlorotUniform(DType.F32, new Shape(5, 7), rng),
            ["layer.0.bias"] = Tensor.FromArray(new[] { double.NaN, double.PositiveInfinity, -0.0, double.Epsilon, 1e308 }, 5),
            ["steps"] = Tensor.FromArray(new[] { long.MinValue, long.MaxValue }, 2),
            ["scalar"] = Tensor.Scalar(Math.PI),
        };
        string path = Path.Combine(Path.GetTempPath(), $"autodiff-{Guid.NewGuid():N}.safetensors");
        try
        {
            SafeTensors.Save(path, tensors, new Dictionary<string, string> { ["note"] = "é ✓" });
            var f = SafeTensors.Load(path);
            Assert.Equal(tensors.Keys, f.Tensors.Keys);
            Assert.Equal("é ✓", f.Metadata["note"]);
            foreach (var (name, t) in tensors)
            {
                Assert.Equal(t.DType, f.Tensors[name].DType);
                Assert.Equal(t.Shape, f.Tensors[name].Shape);
                Assert.Equal(t.ToDoubleArray().Select(BitConverter.DoubleToInt64Bits), f.Tensors[name].ToDoubleArray().Select(BitConverter.DoubleToInt64Bits));
            }
            Assert.Equal([long.MinValue, long.MaxValue], f.Tensors["steps"].Span<long>().ToArray());
        }
        finally
        {
            System.IO.File.Delete(path);
        }
    }

    [Fact]
    public void ParameterSetSavesAndLoadsInPlace()
    {
        string path = Path.Combine(Path.GetTempPath(), $"autodiff-{Guid.NewGuid():N}.safetensors");
        try
        {
            var ps = new ParameterSet();
            var w = ps.Add("w", Init.HeNormal(DType.F32, new Shape(4, 3), new Random(1)));
            ps.Add("b", Tensor.Zeros(DType.F32, 3));
            var saved = w.Value.ToDoubleArray();
            ps.Save(path);
            w.Value.Fill(0);
            ps.Load(path);
            Assert.Equal(saved, w.Value.ToDoubleArray());

            var other = new ParameterSet([new Parameter("w", Tensor.Zeros(DType.F32, 3, 4)), new Parameter("b", Tensor.Zeros(DType.F32, 3))]);
            Assert.Contains("parameter 'w' is f32[4, 3] in the file but f32[3, 4] in the model", Assert.Throws<AutodiffException>(() => other.Load(path)).Message);
            var fewer = new ParameterSet([new Parameter("b", Tensor.Full(DType.F32, new Shape(3), 9))]);
            Assert.Contains("tensor 'w' is not a parameter of the model", Assert.Throws<AutodiffException>(() => fewer.Load(path)).Message);
            Assert.Equal(9, fewer["b"].Value.GetDouble(0));   // nothing changed by a failed load
            fewer.Load(path, strict: false);
            Assert.Equal(0, fewer["b"].Value.GetDouble(0));
            var more = new ParameterSet([new Parameter("c", Tensor.Zeros(DType.F32, 3))]);
            Assert.Contains("parameter 'c' is missing (the file has w, b)", Assert.Throws<AutodiffException>(() => more.Load(path)).Message);
        }
        finally
        {
            System.IO.File.Delete(path);
        }
    }

    public static TheoryData<string, string> Malformed() => new()
    {
        { "short", "the file is shorter than the 8-byte header length" },
        { "long-header", "the header length 1000 runs past the end of the file (40 bytes)" },
        { "not-json", "the header is not valid JSON" },
        { "not-object", "the header does not start with '{'" },
        { "duplicate", "the header names 'a' twice" },
        { "f16", "tensor 'a': dtype F16 is not supported (supported: F32, F64, I64)" },
        { "unknown", "tensor 'a': unknown dtype \"F33\"" },
        { "size", "tensor 'a': F32[3] needs 12 bytes, but data_offsets [0, 8] span 8" },
        { "hole", "tensor 'b' starts at byte 12 of the data, but the previous tensor ends at 8: the data has a hole" },
        { "overlap", "tensor 'b' starts at byte 4 of the data, inside the previous tensor (which ends at 8)" },
        { "trailing", "the file has 4 bytes of data after the last tensor" },
        { "truncated", "tensor 'a' ends at byte 8 of the data, but the file has only 4 bytes of data" },
        { "negative-dim", "tensor 'a': shape entry 0 is -2, not a dimension" },
        { "no-offsets", "tensor 'a': no \"data_offsets\" array of two offsets" },
        { "metadata", "metadata 'k' is Number, not a string" },
    };

    [Theory, MemberData(nameof(Malformed))]
    public void AMalformedFileGetsAClearError(string what, string message)
    {
        const string a = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
        byte[] bytes = what switch
        {
            "short" => [1, 0, 0],
            "long-header" => [.. BitConverter.GetBytes(1000UL), .. new byte[32]],
            "not-json" => File("{\"a\":", F32(1, 2)),
            "not-object" => File("[1]", F32(1, 2)),
            "duplicate" => File($"{{{a},{a}}}", F32(1, 2)),
            "f16" => File("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", F32(1)),
            "unknown" => File("{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", F32(1, 2)),
            "size" => File("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", F32(1, 2)),
            "hole" => File($"{{{a},\"b\":{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}}}", F32(1, 2, 3, 4)),
            "overlap" => File($"{{{a},\"b\":{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}}}", F32(1, 2)),
            "trailing" => File($"{{{a}}}", F32(1, 2, 3)),
            "truncated" => File($"{{{a}}}", F32(1)),
            "negative-dim" => File("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", F32(1, 2)),
            "no-offsets" => File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", F32(1, 2)),
            _ => File($"{{\"__metadata__\":{{\"k\":1}},{a}}}", F32(1, 2)),
        };
        var e = Assert.Throws<AutodiffException>(() => SafeTensors.Read(new MemoryStream(bytes)));
        Assert.StartsWith("safetensors: " + message, e.Message);
    }

    [Fact]
    public void WriterRefusesBadNames()
    {
        var t = Tensor.Zeros(DType.F32, 1);
        Assert.Equal("safetensors: tensor 'x' is given twice", Assert.Throws<AutodiffException>(() => SafeTensors.Write(new MemoryStream(), [new("x", t), new("x", t)])).Message);
        Assert.Contains("reserved", Assert.Throws<AutodiffException>(() => SafeTensors.Write(new MemoryStream(), [new(SafeTensors.MetadataKey, t)])).Message);
    }
}
