namespace Autodiff.Cli;

/// <summary>Input values for a program: generated from a seed (<see cref="InputValues"/>), optionally overridden by a JSON file.</summary>
internal static class Inputs
{
    /// <summary>The values a verb runs on: generated from the seed, then replaced by those in the JSON file
    /// <paramref name="inputsPath"/> (if given; <c>-</c> reads standard input). <paramref name="fromFile"/> receives the
    /// names the file gave.</summary>
    public static Dictionary<string, Tensor> Resolve(Graph graph, string? inputsPath, int seed, double scale, TextReader stdin,
        out IReadOnlyCollection<string> fromFile)
    {
        var values = InputValues.Generate(graph, seed, scale);
        if (inputsPath is null)
        {
            fromFile = [];
            return values;
        }
        string display = inputsPath == "-" ? Cli.StdinName : inputsPath;
        long cap = MaxInputsChars(graph);
        string text = inputsPath == "-" ? Cli.ReadCapped(stdin, display, "inputs", cap) : Cli.ReadFile(inputsPath, "inputs", cap);
        var given = Json.ReadInputs(text, display, graph);
        foreach (var (name, t) in given) values[name] = t;
        fromFile = given.Keys.ToArray();
        return values;
    }

    /// <summary>The most characters an inputs file may have for <paramref name="graph"/>: 64 per declared element (a
    /// round-trip double with its separator and indentation fits in fewer) plus 1 Mi for names, comments and layout. A 40 MB
    /// array for an f32[2, 3] input is refused before it is parsed.</summary>
    internal static long MaxInputsChars(Graph graph) =>
        Math.Min(graph.Inputs.Sum(i => (long)i.Shape.Size) * 64 + (1L << 20), int.MaxValue / 2);

    /// <summary>A one-line description of where the values came from, for text output.</summary>
    public static string Describe(Graph graph, string? inputsPath, IReadOnlyCollection<string> fromFile, int seed, double scale)
    {
        var generated = graph.Inputs.Select(i => ((InputOp)i.Op).InputName).Where(n => !fromFile.Contains(n)).ToArray();
        string gen = $"seed {seed}, scale {Format.Number(scale)}";
        if (inputsPath is null) return $"generated ({gen})";
        string file = inputsPath == "-" ? Cli.StdinName : inputsPath;
        return generated.Length == 0 ? $"from {file}" : $"from {file}; generated ({gen}): {string.Join(", ", generated)}";
    }
}
