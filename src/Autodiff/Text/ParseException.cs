namespace Autodiff.Text;

/// <summary>A program in the expression language could not be parsed or built. The message has the form
/// <c>"{line}:{column}: {what was expected / found}"</c>, e.g. <c>3:18: expected ')' to close the call to 'sum', found 'axis'</c>;
/// shape and type errors raised by an op while a call is built keep the op's own message after the position,
/// e.g. <c>5:5: sum: axis 2 is out of range for shape [64, 10] (rank 2)</c>.</summary>
public sealed class ParseException : AutodiffException
{
    /// <summary>Creates the exception for the given 1-based position.</summary>
    public ParseException(int line, int column, string reason) : base($"{line}:{column}: {reason}")
    {
        Line = line;
        Column = column;
        Reason = reason;
    }

    /// <summary>The 1-based line of the offending token or call.</summary>
    public int Line { get; }

    /// <summary>The 1-based column (in characters) of the offending token or call.</summary>
    public int Column { get; }

    /// <summary>The message without the position prefix.</summary>
    public string Reason { get; }
}
