using System.Collections;

namespace Autodiff.Training;

/// <summary>An ordered set of named <see cref="Parameter"/>s: what an optimizer updates, what a tape is fed, and what a
/// checkpoint holds (<see cref="Save"/>, <see cref="Load"/>, in the safetensors format).</summary>
public sealed class ParameterSet : IReadOnlyList<Parameter>
{
    private readonly List<Parameter> _list = [];
    private readonly Dictionary<string, Parameter> _byName = new(StringComparer.Ordinal);

    /// <summary>An empty set.</summary>
    public ParameterSet() { }

    /// <summary>A set of <paramref name="parameters"/>, in order.</summary>
    public ParameterSet(IEnumerable<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        foreach (var p in parameters) Add(p);
    }

    /// <summary>Adds <paramref name="parameter"/>; its name must be new.</summary>
    public Parameter Add(Parameter parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        if (!_byName.TryAdd(parameter.Name, parameter))
            throw new AutodiffException($"parameter '{parameter.Name}' is already in the set");
        _list.Add(parameter);
        return parameter;
    }

    /// <summary>Adds a parameter named <paramref name="name"/> holding <paramref name="value"/> (not copied).</summary>
    public Parameter Add(string name, Tensor value) => Add(new Parameter(name, value));

    /// <summary>The parameter named <paramref name="name"/>.</summary>
    public Parameter this[string name] => _byName.TryGetValue(name, out var p) ? p
        : throw new AutodiffException($"no parameter '{name}' (the set has {Describe()})");

    /// <inheritdoc/>
    public Parameter this[int index] => _list[index];

    /// <inheritdoc/>
    public int Count => _list.Count;

    /// <summary>True if the set has a parameter named <paramref name="name"/>.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>Total number of elements of all parameters.</summary>
    public long ElementCount => _list.Sum(p => (long)p.Value.Size);

    /// <summary>Puts every parameter's value into <paramref name="inputs"/> under its name (the tape's input dictionary),
    /// replacing what was there.</summary>
    public void Feed(IDictionary<string, Tensor> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        foreach (var p in _list) inputs[p.Name] = p.Value;
    }

    /// <summary>Writes every parameter to <paramref name="path"/> as a safetensors file (see <see cref="SafeTensors"/>).</summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null) =>
        SafeTensors.Save(path, _list.Select(p => new KeyValuePair<string, Tensor>(p.Name, p.Value)), metadata);

    /// <summary>Reads a safetensors file into the parameters' existing tensors (in place, so tapes and optimizers that hold
    /// them see the loaded values). Every parameter must be in the file with the same element type and shape; with
    /// <paramref name="strict"/> (the default) the file must hold nothing else. Nothing is changed when the check fails.</summary>
    public void Load(string path, bool strict = true)
    {
        var loaded = SafeTensors.Load(path);
        foreach (var p in _list)
        {
            if (!loaded.Tensors.TryGetValue(p.Name, out var t))
                throw new AutodiffException($"checkpoint {Path.GetFileName(path)}: parameter '{p.Name}' is missing (the file has {string.Join(", ", loaded.Tensors.Keys)})");
            if (t.DType != p.DType || t.Shape != p.Shape)
                throw new AutodiffException($"checkpoint {Path.GetFileName(path)}: parameter '{p.Name}' is {t.DType.Name()}{t.Shape} in the file but {p.DType.Name()}{p.Shape} in the model");
        }
        if (strict)
            foreach (var name in loaded.Tensors.Keys)
                if (!_byName.ContainsKey(name))
                    throw new AutodiffException($"checkpoint {Path.GetFileName(path)}: tensor '{name}' is not a parameter of the model (pass strict: false to ignore it)");
        foreach (var p in _list) p.Value.CopyFrom(loaded.Tensors[p.Name]);
    }

    private string Describe() => _list.Count == 0 ? "no parameters" : string.Join(", ", _list.Select(p => p.Name));

    /// <inheritdoc/>
    public IEnumerator<Parameter> GetEnumerator() => _list.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
