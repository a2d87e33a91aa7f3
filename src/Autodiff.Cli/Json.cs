using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Autodiff.Cli;

/// <summary>Reading input values from JSON and writing numbers and tensors as JSON.</summary>
internal static class Json
{
    /// <summary>Parses an inputs file: a JSON object from input name to a number (0-d input) or nested arrays matching the
    /// declared shape. Float inputs accept numbers and the strings "NaN", "Infinity" and "-Infinity"; integer inputs
    /// accept integers only (within [0, C) for <c>classes(C)</c>). Every error names <paramref name="display"/> and the input.</summary>
    public static Dictionary<string, Tensor> ReadInputs(string text, string display, Graph graph)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new CliException(InvalidJson(display, e));
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new CliException($"{display}: expected a JSON object from input name to values, found {Kind(doc.RootElement)}");
            var declared = graph.Inputs.Select(n => (InputOp)n.Op).ToDictionary(i => i.InputName, StringComparer.Ordinal);
            var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (!declared.TryGetValue(prop.Name, out var input))
                    throw new CliException($"{display}: unknown input '{prop.Name}'; the program declares {string.Join(", ", declared.Keys.Select(k => $"'{k}'"))}");
                if (result.ContainsKey(prop.Name))
                    throw new CliException($"{display}: input '{prop.Name}' is given twice");
                var t = ReadTensor(prop.Value, input, display);
                try
                {
                    input.Facts.Check(input.InputName, t);
                }
                catch (InputFactException e)
                {
                    throw new CliException($"{display}: {e.Message}");
                }
                result[prop.Name] = t;
            }
            return result;
        }
    }

    /// <summary>"FILE:LINE:COL: invalid JSON: message" with 1-based positions (System.Text.Json counts from 0 and appends
    /// them to its message as "LineNumber: 3 | BytePositionInLine: 0.").</summary>
    internal static string InvalidJson(string display, JsonException e)
    {
        string message = e.Message;
        int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut >= 0) message = message[..cut];
        message = message.TrimEnd().TrimEnd('.');
        string at = e.LineNumber is long line ? $":{line + 1}:{(e.BytePositionInLine ?? 0) + 1}" : "";
        return $"{display}{at}: invalid JSON: {message}";
    }

    private static Tensor ReadTensor(JsonElement value, InputOp input, string display)
    {
        string where = $"{display}: input '{input.InputName}'";
        string type = $"{input.Type.Name()}{input.Shape}";
        if (input.Shape.Rank > 0 && value.ValueKind != JsonValueKind.Array)
            throw new CliException($"{where}: expected nested arrays of shape {input.Shape} ({type}), found {Kind(value)}");
        if (input.Shape.Rank == 0 && value.ValueKind == JsonValueKind.Array)
            throw new CliException($"{where}: expected a number ({type}, 0-d), found an array");
        var found = FoundShape(value, where);
        // JSON cannot spell an empty array of shape [0, 3] other than []: accept [] for any shape with no elements.
        if (input.Shape.Size == 0 && found is [0])
            return Tensor.Zeros(input.Type, input.Shape);
        if (!found.SequenceEqual(input.Shape))
            throw new CliException($"{where}: expected shape {input.Shape} ({input.Type.Name()}{input.Shape}), found {Shape.Format(found.ToArray())}");
        var t = Tensor.Zeros(input.Type, input.Shape);
        int pos = 0;
        Fill(value, t, ref pos, input, where, []);
        return t;
    }

    /// <summary>The shape of nested arrays, checking that they are not ragged.</summary>
    private static List<int> FoundShape(JsonElement e, string where)
    {
        var shape = new List<int>();
        var cur = e;
        while (cur.ValueKind == JsonValueKind.Array)
        {
            int n = cur.GetArrayLength();
            shape.Add(n);
            if (n == 0) break;
            cur = cur[0];
        }
        CheckRegular(e, shape, 0, where, []);
        return shape;
    }

    private static void CheckRegular(JsonElement e, List<int> shape, int depth, string where, List<int> index)
    {
        if (depth == shape.Count)
        {
            if (e.ValueKind == JsonValueKind.Array)
                throw new CliException($"{where}: ragged nested arrays: the element at {Index(index)} is an array, but the first element at that depth is a number");
            return;
        }
        if (e.ValueKind != JsonValueKind.Array)
            throw new CliException($"{where}: ragged nested arrays: expected an array of length {shape[depth]} at {Index(index)}, found {Kind(e)}");
        if (e.GetArrayLength() != shape[depth])
            throw new CliException($"{where}: ragged nested arrays: the array at {Index(index)} has length {e.GetArrayLength()}, expected {shape[depth]}");
        int i = 0;
        foreach (var item in e.EnumerateArray())
        {
            index.Add(i++);
            CheckRegular(item, shape, depth + 1, where, index);
            index.RemoveAt(index.Count - 1);
        }
    }

    private static void Fill(JsonElement e, Tensor t, ref int pos, InputOp input, string where, List<int> index)
    {
        if (e.ValueKind == JsonValueKind.Array)
        {
            int i = 0;
            foreach (var item in e.EnumerateArray())
            {
                index.Add(i++);
                Fill(item, t, ref pos, input, where, index);
                index.RemoveAt(index.Count - 1);
            }
            return;
        }
        t.SetDouble(pos++, Element(e, input, where, index));
    }

    private static double Element(JsonElement e, InputOp input, string where, List<int> index)
    {
        string at = index.Count == 0 ? "" : $" at {Index(index)}";
        if (input.Type.IsFloat())
        {
            if (e.ValueKind == JsonValueKind.Number) return e.GetDouble();
            if (e.ValueKind == JsonValueKind.String)
            {
                switch (e.GetString())
                {
                    case "NaN": return double.NaN;
                    case "Infinity": return double.PositiveInfinity;
                    case "-Infinity": return double.NegativeInfinity;
                }
            }
            throw new CliException($"{where}: expected a number (or \"NaN\", \"Infinity\", \"-Infinity\"){at}, found {Kind(e)}");
        }
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out long v))
            throw new CliException($"{where}: expected an integer ({input.Type.Name()}){at}, found {Kind(e)}");
        if (input.Facts.Classes is int c && (v < 0 || v >= c))
            throw new CliException($"{where}: {v}{at} is not a class index in [0, {c}) (declared classes({c}))");
        return v;
    }

    private static string Index(List<int> index) => Shape.Format(index.ToArray());

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Number => $"the number {e.GetRawText()}",
        JsonValueKind.String => $"the string {e.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => e.GetRawText(),
        JsonValueKind.Null => "null",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => e.ValueKind.ToString(),
    };

    /// <summary>Builds an indented JSON document with a <see cref="Utf8JsonWriter"/> and returns it as text (no trailing newline).</summary>
    public static string Write(Action<Utf8JsonWriter> body)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions
        {
            Indented = true,
            NewLine = "\n",
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }))
        {
            body(w);
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Writes a number as the shortest text that round-trips in its element type (float for f32), or
    /// <c>null</c> for NaN and ±infinity.</summary>
    public static void Number(Utf8JsonWriter w, double v, DType dtype = DType.F64)
    {
        if (!double.IsFinite(v)) w.WriteNullValue();
        else if (dtype == DType.F32) w.WriteNumberValue((float)v);
        else if (dtype == DType.I64) w.WriteNumberValue((long)v);
        else w.WriteNumberValue(v);
    }

    /// <summary>Writes a property whose value is a number (see <see cref="Number(Utf8JsonWriter, double, DType)"/>).</summary>
    public static void Number(Utf8JsonWriter w, string name, double v, DType dtype = DType.F64)
    {
        w.WritePropertyName(name);
        Number(w, v, dtype);
    }

    /// <summary>Writes a tensor as a number (0-d) or nested arrays, row-major, with the innermost dimension on one line.</summary>
    public static void WriteTensor(Utf8JsonWriter w, Tensor t)
    {
        if (t.Shape.Rank == 0)
        {
            Number(w, t.GetDouble(0), t.DType);
            return;
        }
        var sb = new StringBuilder();
        int pos = 0;
        // Utf8JsonWriter indents by two spaces per open container; continue from the writer's depth.
        AppendDim(sb, t, 0, ref pos, w.CurrentDepth);
        w.WriteRawValue(sb.ToString());
    }

    private static void AppendDim(StringBuilder sb, Tensor t, int dim, ref int pos, int depth)
    {
        int n = t.Shape[dim];
        if (dim == t.Shape.Rank - 1)
        {
            sb.Append('[');
            for (int i = 0; i < n; i++)
            {
                if (i > 0) sb.Append(", ");
                sb.Append(NumberText(t.GetDouble(pos++), t.DType));
            }
            sb.Append(']');
            return;
        }
        if (n == 0)
        {
            sb.Append("[]");
            return;
        }
        sb.Append('[');
        for (int i = 0; i < n; i++)
        {
            sb.Append(i > 0 ? "," : "").Append('\n').Append(' ', 2 * (depth + 1));
            AppendDim(sb, t, dim + 1, ref pos, depth + 1);
        }
        sb.Append('\n').Append(' ', 2 * depth).Append(']');
    }

    /// <summary>A JSON number as <see cref="Number(Utf8JsonWriter, double, DType)"/> writes it, as text.</summary>
    private static string NumberText(double v, DType dtype) =>
        !double.IsFinite(v) ? "null" :
        dtype == DType.F32 ? ((float)v).ToString("R", CultureInfo.InvariantCulture) :
        dtype == DType.I64 ? ((long)v).ToString(CultureInfo.InvariantCulture) :
        v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Writes where a graph first went non-finite as <c>{"op", "line", "column", "pass", "node"}</c> (line and
    /// column null for a graph without program text), or <c>null</c>.</summary>
    public static void WriteLocation(Utf8JsonWriter w, NonFiniteLocation? l)
    {
        if (l is null)
        {
            w.WriteNullValue();
            return;
        }
        w.WriteStartObject();
        w.WriteString("op", l.Op);
        if (l.Line is int line) w.WriteNumber("line", line);
        else w.WriteNull("line");
        if (l.Column is int col) w.WriteNumber("column", col);
        else w.WriteNull("column");
        w.WriteString("pass", l.Pass);
        w.WriteString("node", l.Expression);
        w.WriteEndObject();
    }

    /// <summary>Writes a shape as an array of integers.</summary>
    public static void WriteShape(Utf8JsonWriter w, string name, Shape shape)
    {
        w.WriteStartArray(name);
        foreach (var d in shape) w.WriteNumberValue(d);
        w.WriteEndArray();
    }
}
