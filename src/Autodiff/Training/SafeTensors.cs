using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Autodiff.Training;

/// <summary>The tensors and metadata of a safetensors file, in the file's order.</summary>
/// <param name="Tensors">The tensors by name, in the order of their data in the file.</param>
/// <param name="Metadata">The <c>__metadata__</c> string map (empty when the file has none).</param>
public sealed record SafeTensorsFile(IReadOnlyDictionary<string, Tensor> Tensors, IReadOnlyDictionary<string, string> Metadata);

/// <summary>Reads and writes the safetensors format (Hugging Face; what <c>safetensors.torch.save_file</c> and
/// <c>load_file</c> use): an unsigned 64-bit little-endian header length N, N bytes of UTF-8 JSON mapping each tensor
/// name to <c>{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}</c> (byte offsets into the data that
/// follows) plus an optional <c>"__metadata__"</c> map of strings, then the raw little-endian, row-major data. Tensors of
/// element type <c>F32</c>, <c>F64</c> and <c>I64</c> are read and written. The writer pads the header with spaces to a
/// multiple of 8 bytes, as the reference implementation does. The reader checks the file against the format and says
/// what is wrong, with the tensor's name, when it is not: a header length beyond the file, a header that is not a JSON
/// object, a duplicate name, an unknown or unsupported dtype, a shape whose size does not match its byte range, byte
/// ranges that overlap or leave a hole, or data missing at the end of the file or left over after it.</summary>
public static class SafeTensors
{
    /// <summary>The key of the metadata map in the header.</summary>
    public const string MetadataKey = "__metadata__";

    private const long MaxHeaderBytes = 100_000_000;   // the reference implementation's limit

    /// <summary>Writes <paramref name="tensors"/> (names distinct and non-empty) and <paramref name="metadata"/> to
    /// <paramref name="path"/>, replacing the file.</summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var file = File.Create(path);
        Write(file, tensors, metadata);
    }

    /// <summary>Writes <paramref name="tensors"/> and <paramref name="metadata"/> to <paramref name="stream"/> in the
    /// safetensors format.</summary>
    public static void Write(Stream stream, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, t) in list)
        {
            if (string.IsNullOrEmpty(name)) throw new AutodiffException("safetensors: a tensor name is empty");
            if (name == MetadataKey) throw new AutodiffException($"safetensors: '{MetadataKey}' is reserved for the metadata and cannot name a tensor");
            if (!names.Add(name)) throw new AutodiffException($"safetensors: tensor '{name}' is given twice");
            ArgumentNullException.ThrowIfNull(t, name);
        }
        var json = new MemoryStream();
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, t) in list)
            {
                w.WriteStartObject(name);
                w.WriteString("dtype", DTypeName(t.DType));
                w.WriteStartArray("shape");
                for (int i = 0; i < t.Shape.Rank; i++) w.WriteNumberValue(t.Shape[i]);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                offset += (long)t.Size * t.DType.ByteSize();
                w.WriteNumberValue(offset);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        int pad = (int)((8 - json.Length % 8) % 8);
        for (int i = 0; i < pad; i++) json.WriteByte((byte)' ');
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)json.Length);
        stream.Write(prefix);
        json.Position = 0;
        json.CopyTo(stream);
        foreach (var (_, t) in list) WriteData(stream, t);
    }

    /// <summary>Reads the safetensors file at <paramref name="path"/>.</summary>
    /// <exception cref="AutodiffException">The file does not follow the format (the message says where), or holds a dtype
    /// other than F32, F64 and I64.</exception>
    public static SafeTensorsFile Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var file = File.OpenRead(path);
        try
        {
            return Read(file);
        }
        catch (AutodiffException e)
        {
            throw new AutodiffException($"{Path.GetFileName(path)}: {e.Message}", e);
        }
    }

    /// <summary>Reads a safetensors file from <paramref name="stream"/>, which must end where the data ends.</summary>
    public static SafeTensorsFile Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Span<byte> prefix = stackalloc byte[8];
        if (ReadAll(stream, prefix) < 8) throw Error("the file is shorter than the 8-byte header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderBytes) throw Error($"the header length {headerLength} exceeds the limit of {MaxHeaderBytes} bytes");
        if (stream.CanSeek && 8 + (long)headerLength > stream.Length)
            throw Error($"the header length {headerLength} runs past the end of the file ({stream.Length} bytes)");
        var header = new byte[headerLength];
        if (ReadAll(stream, header) < header.Length) throw Error($"the header length {headerLength} runs past the end of the file");
        var entries = ParseHeader(header, out var metadata);
        long dataLength = stream.CanSeek ? stream.Length - 8 - (long)headerLength : -1;
        long expected = 0;
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (e.Begin != expected)
                throw Error(e.Begin > expected
                    ? $"tensor '{e.Name}' starts at byte {e.Begin} of the data, but the previous tensor ends at {expected}: the data has a hole"
                    : $"tensor '{e.Name}' starts at byte {e.Begin} of the data, inside the previous tensor (which ends at {expected})");
            if (dataLength >= 0 && e.End > dataLength)
                throw Error($"tensor '{e.Name}' ends at byte {e.End} of the data, but the file has only {dataLength} bytes of data");
            var t = Tensor.Zeros(e.DType, e.Shape);
            ReadData(stream, t, e.Name);
            tensors.Add(e.Name, t);
            expected = e.End;
        }
        if (dataLength > expected)
            throw Error($"the file has {dataLength - expected} bytes of data after the last tensor (the data must be entirely indexed)");
        return new SafeTensorsFile(tensors, metadata);
    }

    private sealed record Entry(string Name, DType DType, Shape Shape, long Begin, long End);

    private static List<Entry> ParseHeader(byte[] header, out Dictionary<string, string> metadata)
    {
        metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        if (header.Length == 0 || header[0] != (byte)'{') throw Error("the header does not start with '{' (not a safetensors file?)");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw Error($"the header is not valid JSON: {e.Message}");
        }
        var entries = new List<Entry>();
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Error("the header is not a JSON object");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(p.Name)) throw Error($"the header names '{p.Name}' twice");
                if (p.Name == MetadataKey)
                {
                    if (p.Value.ValueKind != JsonValueKind.Object) throw Error($"'{MetadataKey}' is not an object of strings");
                    foreach (var m in p.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()!
                            : throw Error($"metadata '{m.Name}' is {m.Value.ValueKind}, not a string");
                    continue;
                }
                entries.Add(ParseEntry(p.Name, p.Value));
            }
        }
        return entries;
    }

    private static Entry ParseEntry(string name, JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object) throw Error($"tensor '{name}': its entry is {e.ValueKind}, not an object");
        if (!e.TryGetProperty("dtype", out var d) || d.ValueKind != JsonValueKind.String) throw Error($"tensor '{name}': no \"dtype\" string");
        if (!e.TryGetProperty("shape", out var s) || s.ValueKind != JsonValueKind.Array) throw Error($"tensor '{name}': no \"shape\" array");
        if (!e.TryGetProperty("data_offsets", out var o) || o.ValueKind != JsonValueKind.Array || o.GetArrayLength() != 2)
            throw Error($"tensor '{name}': no \"data_offsets\" array of two offsets");
        var dtype = ParseDType(name, d.GetString()!);
        var dims = new int[s.GetArrayLength()];
        long size = 1;
        int k = 0;
        foreach (var x in s.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt32(out int dim) || dim < 0)
                throw Error($"tensor '{name}': shape entry {k} is {x.GetRawText()}, not a dimension (an integer >= 0 below 2^31)");
            dims[k++] = dim;
            size *= dim;
            if (size > Array.MaxLength) throw Error($"tensor '{name}': shape [{string.Join(", ", dims.Take(k))}...] has more elements than an array can hold");
        }
        var offsets = new long[2];
        k = 0;
        foreach (var x in o.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt64(out offsets[k]) || offsets[k] < 0)
                throw Error($"tensor '{name}': data offset {k} is {x.GetRawText()}, not a byte offset");
            k++;
        }
        long bytes = size * dtype.ByteSize();
        if (offsets[1] < offsets[0]) throw Error($"tensor '{name}': data_offsets [{offsets[0]}, {offsets[1]}] end before they begin");
        if (offsets[1] - offsets[0] != bytes)
            throw Error($"tensor '{name}': {d.GetString()}[{string.Join(", ", dims)}] needs {bytes} bytes, but data_offsets [{offsets[0]}, {offsets[1]}] span {offsets[1] - offsets[0]}");
        return new Entry(name, dtype, new Shape(dims), offsets[0], offsets[1]);
    }

    private static readonly string[] Known = ["BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "U64", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64"];

    private static DType ParseDType(string name, string dtype) => dtype switch
    {
        "F32" => DType.F32,
        "F64" => DType.F64,
        "I64" => DType.I64,
        _ when Known.Contains(dtype) => throw Error($"tensor '{name}': dtype {dtype} is not supported (supported: F32, F64, I64)"),
        _ => throw Error($"tensor '{name}': unknown dtype \"{dtype}\""),
    };

    private static string DTypeName(DType t) => t switch
    {
        DType.F32 => "F32",
        DType.F64 => "F64",
        DType.I64 => "I64",
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    private static void WriteData(Stream stream, Tensor t)
    {
        switch (t.DType)
        {
            case DType.F32: WriteSpan<float>(stream, t.Span<float>()); break;
            case DType.F64: WriteSpan<double>(stream, t.Span<double>()); break;
            default: WriteSpan<long>(stream, t.Span<long>()); break;
        }
    }

    private static void WriteSpan<T>(Stream stream, Span<T> values) where T : unmanaged
    {
        if (BitConverter.IsLittleEndian)
        {
            stream.Write(MemoryMarshal.AsBytes(values));
            return;
        }
        var copy = values.ToArray();
        ReverseEndianness<T>(copy);
        stream.Write(MemoryMarshal.AsBytes(copy.AsSpan()));
    }

    private static void ReadData(Stream stream, Tensor t, string name)
    {
        var bytes = t.DType switch
        {
            DType.F32 => MemoryMarshal.AsBytes(t.Span<float>()),
            DType.F64 => MemoryMarshal.AsBytes(t.Span<double>()),
            _ => MemoryMarshal.AsBytes(t.Span<long>()),
        };
        if (ReadAll(stream, bytes) < bytes.Length) throw Error($"tensor '{name}': the file ends inside its data");
        if (!BitConverter.IsLittleEndian)
        {
            if (t.DType == DType.F32) ReverseEndianness<float>(t.Span<float>());
            else if (t.DType == DType.F64) ReverseEndianness<double>(t.Span<double>());
            else ReverseEndianness<long>(t.Span<long>());
        }
    }

    private static void ReverseEndianness<T>(Span<T> values) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<T, int>(values), MemoryMarshal.Cast<T, int>(values));
        else BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<T, long>(values), MemoryMarshal.Cast<T, long>(values));
    }

    private static int ReadAll(Stream stream, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = stream.Read(buffer[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    private static AutodiffException Error(string message) => new($"safetensors: {message}");
}
