using System.Buffers;
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
    /// accept integers only (within [0, C) for <c>classes(C)</c>). Every error names <paramref name="display"/> and the input.
    /// The text is read as a stream of tokens straight into each input's tensor (no document tree), so an array larger than
    /// its declared shape is refused at its first extra item.</summary>
    public static Dictionary<string, Tensor> ReadInputs(string text, string display, Graph graph)
    {
        var declared = graph.Inputs.Select(n => (InputOp)n.Op).ToDictionary(i => i.InputName, StringComparer.Ordinal);
        int maxRank = declared.Values.Select(i => i.Shape.Rank).DefaultIfEmpty(0).Max();
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(text), new JsonReaderOptions
        {
            AllowTrailingCommas = true,
            CommentHandling = JsonCommentHandling.Skip,
            MaxDepth = maxRank + 2,   // the object, then one array per dimension (one more, to report a too-deep value as a shape mismatch)
        });
        try
        {
            Next(ref reader);
            if (reader.TokenType != JsonTokenType.StartObject)
                throw new CliException($"{display}: expected a JSON object from input name to values, found {Kind(ref reader)}");
            var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            while (Next(ref reader) == JsonTokenType.PropertyName)
            {
                string name = reader.GetString()!;
                if (!declared.TryGetValue(name, out var input))
                    throw new CliException($"{display}: unknown input '{name}'; the program declares {string.Join(", ", declared.Keys.Select(k => $"'{k}'"))}");
                if (result.ContainsKey(name))
                    throw new CliException($"{display}: input '{name}' is given twice");
                Next(ref reader);
                var t = ReadTensor(ref reader, input, $"{display}: input '{name}'");
                try
                {
                    input.Facts.Check(input.InputName, t);
                }
                catch (InputFactException e)
                {
                    throw new CliException($"{display}: {e.Message}");
                }
                result[name] = t;
            }
            return result;
        }
        catch (JsonException e)
        {
            throw new CliException(InvalidJson(display, e));
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


    private static JsonTokenType Next(ref Utf8JsonReader r)
    {
        if (!r.Read()) throw new JsonException("the text ends before the object is closed");
        return r.TokenType;
    }

    /// <summary>Reads one input's value, the reader on its first token, into a new tensor; leaves the reader on the value's
    /// last token. A structure that differs from the declared shape is reported as a shape mismatch (the shape of the first
    /// element at each depth, as found by a second, counting pass) or, when that shape matches, as ragged arrays.</summary>
    private static Tensor ReadTensor(ref Utf8JsonReader r, InputOp input, string where)
    {
        var shape = input.Shape;
        int rank = shape.Rank;
        var start = r;   // a copy of the reader's state, to measure the value again if it does not fit
        string type = $"{input.Type.Name()}{shape}";
        if (rank > 0 && r.TokenType != JsonTokenType.StartArray)
            throw new CliException($"{where}: expected nested arrays of shape {shape} ({type}), found {Kind(ref r)}");
        if (rank == 0 && r.TokenType == JsonTokenType.StartArray)
            throw new CliException($"{where}: expected a number ({type}, 0-d), found an array");
        if (shape.Size == 0)
        {
            // JSON cannot spell an empty array of shape [0, 3] other than []: accept [] for any shape with no elements.
            var peek = r;
            if (peek.Read() && peek.TokenType == JsonTokenType.EndArray)
            {
                r = peek;
                return Tensor.Zeros(input.Type, shape);
            }
        }
        var t = Tensor.Zeros(input.Type, shape);
        var index = new int[rank];
        int depth = 0, pos = 0;
        while (true)
        {
            if (r.TokenType != JsonTokenType.EndArray && depth > 0 && index[depth - 1] == shape[depth - 1])
                throw Mismatch(start, shape, input, where, $"the array at {Index(index, depth - 1)} has more than {shape[depth - 1]} items");
            if (r.TokenType == JsonTokenType.StartArray)
            {
                if (depth == rank) throw Mismatch(start, shape, input, where, $"the element at {Index(index, depth)} is an array, but the first element at that depth is a number");
                index[depth++] = 0;
            }
            else if (r.TokenType == JsonTokenType.EndArray)
            {
                depth--;
                if (index[depth] != shape[depth])
                    throw Mismatch(start, shape, input, where, $"the array at {Index(index, depth)} has length {index[depth]}, expected {shape[depth]}");
                if (depth == 0) return t;
                index[depth - 1]++;
            }
            else
            {
                if (depth < rank)
                    throw Mismatch(start, shape, input, where, $"expected an array of length {shape[depth]} at {Index(index, depth)}, found {Kind(ref r)}");
                t.SetDouble(pos++, Element(ref r, input, where, index));
                if (depth == 0) return t;
                index[depth - 1]++;
            }
            Next(ref r);
        }
    }

    /// <summary>The error for a value whose structure differs from <paramref name="shape"/>: "expected shape …, found …" when
    /// the shape of the first element at each depth differs, otherwise "ragged nested arrays: <paramref name="ragged"/>".</summary>
    private static CliException Mismatch(Utf8JsonReader r, Shape shape, InputOp input, string where, string ragged)
    {
        var found = new List<int>();
        while (r.TokenType == JsonTokenType.StartArray && found.Count <= shape.Rank)
        {
            // Count the items of this array (skipping each), then descend into its first item.
            var first = r;
            int n = 0;
            Next(ref r);
            while (r.TokenType != JsonTokenType.EndArray)
            {
                n++;
                r.Skip();
                Next(ref r);
            }
            found.Add(n);
            if (n == 0) break;
            r = first;
            Next(ref r);
        }
        return found.SequenceEqual(shape)
            ? new CliException($"{where}: ragged nested arrays: {ragged}")
            : new CliException($"{where}: expected shape {shape} ({input.Type.Name()}{shape}), found {(found.Count > shape.Rank ? "more than " + shape.Rank + " nested arrays" : Shape.Format(found.ToArray()))}");
    }

    private static double Element(ref Utf8JsonReader r, InputOp input, string where, int[] index)
    {
        string at = index.Length == 0 ? "" : $" at {Index(index, index.Length)}";
        if (input.Type.IsFloat())
        {
            if (r.TokenType == JsonTokenType.Number)
            {
                if (!r.TryGetDouble(out double d) || !double.IsFinite(d) || (input.Type == DType.F32 && !float.IsFinite((float)d)))
                    throw new CliException($"{where}: {Raw(ref r)}{at} is out of the range of {input.Type.Name()} (write \"Infinity\" or \"-Infinity\" for an infinity)");
                return d;
            }
            if (r.TokenType == JsonTokenType.String)
            {
                if (r.ValueTextEquals("NaN")) return double.NaN;
                if (r.ValueTextEquals("Infinity")) return double.PositiveInfinity;
                if (r.ValueTextEquals("-Infinity")) return double.NegativeInfinity;
            }
            throw new CliException($"{where}: expected a number (or \"NaN\", \"Infinity\", \"-Infinity\"){at}, found {Kind(ref r)}");
        }
        if (r.TokenType != JsonTokenType.Number || !r.TryGetInt64(out long v))
            throw new CliException($"{where}: expected an integer ({input.Type.Name()}){at}, found {Kind(ref r)}");
        if (input.Facts.Classes is int c && (v < 0 || v >= c))
            throw new CliException($"{where}: {v}{at} is not a class index in [0, {c}) (declared classes({c}))");
        return v;
    }

    /// <summary>The index of the current element: its first <paramref name="count"/> components.</summary>
    private static string Index(int[] index, int count) => Shape.Format(index.AsSpan(0, count));

    private static string Raw(ref Utf8JsonReader r) => Encoding.UTF8.GetString(r.HasValueSequence ? r.ValueSequence.ToArray() : r.ValueSpan);

    private static string Kind(ref Utf8JsonReader r) => r.TokenType switch
    {
        JsonTokenType.Number => $"the number {Raw(ref r)}",
        JsonTokenType.String => $"the string \"{Raw(ref r)}\"",
        JsonTokenType.True => "true",
        JsonTokenType.False => "false",
        JsonTokenType.Null => "null",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.StartObject => "an object",
        var k => k.ToString(),
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

    /// <summary>The highest rank <see cref="WriteTensor"/> indents (one line per row of the innermost dimension); a tensor
    /// of higher rank is written on one line.</summary>
    public const int MaxIndentedRank = 32;

    /// <summary>Writes a tensor as a number (0-d) or nested arrays, row-major, with the innermost dimension on one line.</summary>
    public static void WriteTensor(Utf8JsonWriter w, Tensor t)
    {
        if (t.Shape.Rank == 0)
        {
            Number(w, t.GetDouble(0), t.DType);
            return;
        }
        var sb = new StringBuilder();
        // Utf8JsonWriter indents by two spaces per open container; continue from the writer's depth. Above rank
        // MaxIndentedRank the tensor is written on one line: indenting every level would make the text quadratic in the rank.
        int depth = w.CurrentDepth, rank = t.Shape.Rank;
        bool oneLine = rank > MaxIndentedRank;
        t.Walk(_ => sb.Append('['),
            (dim, i) =>
            {
                if (dim == rank - 1 || oneLine) sb.Append(i > 0 ? ", " : "");
                else sb.Append(i > 0 ? "," : "").Append('\n').Append(' ', 2 * (depth + dim + 1));
            },
            pos => sb.Append(NumberText(t.GetDouble(pos), t.DType)),
            (dim, n) =>
            {
                if (dim < rank - 1 && n > 0 && !oneLine) sb.Append('\n').Append(' ', 2 * (depth + dim));
                sb.Append(']');
            });
        // The text is valid JSON by construction; validating it would refuse nesting deeper than 64 (a tensor of rank 65).
        w.WriteRawValue(sb.ToString(), skipInputValidation: true);
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
