namespace Autodiff.Testing;

/// <summary>Thrown when a graph assertion or a golden-file check fails. It is a plain <see cref="Exception"/>, so xunit,
/// NUnit and MSTest all report it as a failed test; the message says what was expected and, for texts, holds a unified
/// diff (<c>-</c> lines are the expected text's, <c>+</c> lines the actual one's).</summary>
public sealed class GraphAssertionException : Exception
{
    /// <summary>A failure with the given message.</summary>
    public GraphAssertionException(string message) : base(message) { }

    /// <summary>A failure with the given message and a unified diff (empty when the failure is not about a text).</summary>
    public GraphAssertionException(string message, string diff) : base(diff.Length == 0 ? message : message + "\n" + diff) => Diff = diff;

    /// <summary>The unified diff of the expected and the actual text, or empty.</summary>
    public string Diff { get; } = "";
}
