using System.Collections;

namespace Autodiff;

/// <summary>An immutable list of integers with structural equality, used for op attributes such as axes.</summary>
public sealed class IntList : IReadOnlyList<int>, IEquatable<IntList>
{
    private readonly int[] _items;

    /// <summary>The empty list.</summary>
    public static IntList Empty { get; } = new();

    /// <summary>Creates the list (the array is copied).</summary>
    public IntList(params int[] items) => _items = (int[])items.Clone();

    /// <summary>Creates the list from a sequence.</summary>
    public IntList(IEnumerable<int> items) => _items = items.ToArray();

    /// <inheritdoc/>
    public int this[int index] => _items[index];

    /// <inheritdoc/>
    public int Count => _items.Length;

    /// <summary>True if <paramref name="v"/> is in the list.</summary>
    public bool Contains(int v) => Array.IndexOf(_items, v) >= 0;

    /// <summary>A copy as an array.</summary>
    public int[] ToArray() => (int[])_items.Clone();

    /// <inheritdoc/>
    public bool Equals(IntList? other) => other is not null && _items.AsSpan().SequenceEqual(other._items);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as IntList);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var i in _items) h.Add(i);
        return h.ToHashCode();
    }

    /// <summary>Formats as the expression language writes an axis or shape argument: <c>1</c> or <c>(0, 1)</c>; <c>()</c> when empty.</summary>
    public override string ToString() => _items.Length == 1 ? _items[0].ToString() : "(" + string.Join(", ", _items) + ")";

    /// <inheritdoc/>
    public IEnumerator<int> GetEnumerator() => ((IEnumerable<int>)_items).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _items.GetEnumerator();
}
