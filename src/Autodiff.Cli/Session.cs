namespace Autodiff.Cli;

/// <summary>A parsed program with the values to run it on.</summary>
internal sealed record Session(ProgramSource Source, Graph Graph, Dictionary<string, Tensor> Values, string InputsDescription)
{
    /// <summary>Reads and parses FILE, then builds the input values from the seed and the optional inputs file.</summary>
    public static Session Open(CliIO io, string file, string? inputsPath, int seed, double scale)
    {
        if (file == "-" && inputsPath == "-")
            throw new CliException("FILE and --inputs cannot both be - (only one of them can be read from standard input)");
        if (!double.IsFinite(scale))
            throw new CliException($"--scale must be a finite number, got {scale}");
        var source = ProgramSource.Load(file, io.In);
        var graph = source.Parse();
        MemoryBudget.Require(graph, graph.Inputs, MemoryBudget.Default);   // the values generated or read for every declared input
        var values = Inputs.Resolve(graph, inputsPath, seed, scale, io.In, out var fromFile);
        return new Session(source, graph, values, Inputs.Describe(graph, inputsPath, fromFile, seed, scale));
    }

    /// <summary>The output's type and, for a non-scalar output, how it is summarized and differentiated.</summary>
    public string OutputDescription()
    {
        var o = Graph.Output;
        string type = $"{o.DType.Name()}{o.Shape}";
        return o.Shape.Size == 1
            ? $"{type} (scalar)"
            : $"{type}, not a scalar: gradients backpropagate a cotangent of ones (they are those of the sum of the output)";
    }

    /// <summary>Names of the float inputs (the default differentiation targets).</summary>
    public string[] FloatInputs() =>
        Graph.Inputs.Where(i => i.DType.IsFloat()).Select(i => ((InputOp)i.Op).InputName).ToArray();
}
