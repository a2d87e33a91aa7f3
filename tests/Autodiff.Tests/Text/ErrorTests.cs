using Autodiff.Text;

namespace Autodiff.Tests.Text;

public class ErrorTests
{
    private const string X = "input x: f32[64, 10]\ninput t: i64[64]\n";   // declarations on lines 1-2

    public static TheoryData<string, int, int, string> Cases => new()
    {
        // syntax
        { X + "y = x +", 3, 8, "expected an expression, found end of input" },
        { X + "y = x + )", 3, 9, "expected an expression, found ')'" },
        { X + "q = sum(x, 1 axis=1)", 3, 14, "expected ')' to close the call to 'sum', found 'axis'" },
        { X + "q = sum(x, axis=1", 3, 18, "expected ')' to close the call to 'sum', found end of input" },
        { X + "y = (x + 1\nz = x", 3, 11, "expected ')' to close '(' opened at 3:5, found end of line" },
        { X + "y = x $ 2", 3, 7, "unexpected character '$'" },
        { X + "y = x 2", 3, 7, "expected end of line after the statement, found '2'" },
        { X + "exp(x)", 3, 4, "expected '=' after 'exp'" },
        { X + "= x", 3, 1, "expected a statement" },
        { X + "y = x, 2", 3, 6, "expected end of line after the statement, found ','" },
        { X + "y = (" + new string('(', 300) + "x" + new string(')', 301), 3, Parser.MaxNesting + 5, "nested too deeply" },
        // names
        { X + "y = x + foo", 3, 9, "unknown name 'foo'" },
        { X + "y = exp(xx)", 3, 9, "unknown name 'xx'; did you mean 'x'?" },
        { X + "y = exp(x)\ny = log(x)", 4, 1, "'y' is already defined on line 3" },
        { X + "x = exp(x)", 3, 1, "'x' is already defined on line 1" },
        { X + "inf = exp(x)", 3, 1, "'inf' is a reserved word" },
        { "input output: f32[2]", 1, 7, "'output' is a reserved word" },
        { X + "output foo", 3, 8, "unknown name 'foo'" },
        { X + "y = exp(x)\noutput y\noutput x", 5, 8, "the output is already given on line 4" },
        { X, 3, 1, "the program has no assignment" },
        { "", 1, 1, "the program has no assignment" },
        // functions and arguments
        { X + "y = sofmax(x)", 3, 5, "unknown function 'sofmax'; did you mean 'softmax'?" },
        { X + "y = sofplus(x)", 3, 5, "unknown function 'sofplus'; did you mean 'softplus'?" },
        { X + "y = frobnicate(x)", 3, 5, "unknown function 'frobnicate'" },
        { X + "y = sum(x, axes=1)", 3, 12, "'sum' has no argument 'axes'; did you mean 'axis'?" },
        { X + "y = sum(x, axis=x)", 3, 17, "argument 'axis' of 'sum' must be an integer or a tuple of integers, found 'x'" },
        { X + "y = sum(x, axis=(0, 1.5))", 3, 21, "must be an integer or a tuple of integers, found '1.5'" },
        { X + "y = sum(x, keepdims=1)", 3, 21, "argument 'keepdims' of 'sum' must be true or false, found '1'" },
        { X + "y = sum(x, axis=99999999999)", 3, 17, "(out of range)" },
        { X + "y = maximum(x)", 3, 5, "the call to 'maximum' is missing argument 'b'" },
        { X + "y = exp(x, x)", 3, 12, "too many arguments in the call to 'exp'" },
        { X + "y = sum(x, axis=1, axis=0)", 3, 20, "argument 'axis' of 'sum' is given twice" },
        { X + "y = sum(axis=1, x)", 3, 17, "a positional argument follows a named one" },
        { X + "y = one_hot(t, 3, dtype=f16)", 3, 25, "must be an element type (f32, f64 or i64), found 'f16'" },
        { X + "y = constant(1.5, dtype=i64)", 3, 5, "constant: an i64 constant must be an integer" },
        { X + "y = x + (1, 2)", 3, 9, "expected a tensor expression, found a tuple" },
        { X + "y = x * true", 3, 9, "expected a tensor expression, found 'true'" },
        // shape and type errors from the ops, at the call or operator
        { X + "y = exp(x)\nz = x\nloss = sum(x, axis=2)", 5, 8, "sum: axis 2 is out of range for shape [64, 10] (rank 2)" },
        { X + "y = x + sum(x, axis=1)", 3, 7, "add: shapes [64, 10] and [64] cannot be broadcast together" },
        { X + "y = x @ x", 3, 7, "matmul: shapes [64, 10] and [64, 10] are incompatible" },
        { X + "y = reshape(x, shape=(3, 7))", 3, 5, "reshape: cannot reshape [64, 10] (640 elements) to [3, 7] (21 elements)" },
        { X + "y = reshape(x, shape=(-2, -320))", 3, 5, "reshape: shape [-2, -320] has a negative dimension" },
        { X + "y = reshape(x, shape=(2000000000, 2000000000, 2000000000))", 3, 5, "reshape: " },
        { X + "y = broadcast_to(x, shape=(-1, 10))", 3, 5, "broadcast_to: shape [-1, 10] has a negative dimension" },
        { X + "y = one_hot(t, -1)", 3, 5, "one_hot: number of classes must be non-negative, got -1" },
        { X + "y = unsqueeze(x, axis=5)", 3, 5, "unsqueeze: axis 5 is out of range" },
        { X + "y = one_hot(x, 3)", 3, 5, "one_hot: indices must be i64" },
        { X + "y = exp(t)", 3, 5, "exp: operand must be f32 or f64, got i64[64]" },
        { X + "y = -t", 3, 5, "neg: operand must be f32 or f64" },
        { X + "y = take(x, t, axis=0)", 3, 5, "take: indices [64] do not fit values [64, 10] along axis 0" },
        { X + "y = transpose(x, axes=(0, 0))", 3, 5, "transpose: axes (0, 0) are not a permutation" },
        { X + "y = squeeze(x, axis=1)", 3, 5, "squeeze: axis 1 of [64, 10] has size 10, not 1" },
        { "input a: f32[2]\ninput b: f64[2]\nc = a + b", 3, 7, "add: operands have different element types" },
        // input declarations
        { "input x: f16[2]", 1, 10, "unknown element type 'f16'; expected f32, f64 or i64" },
        { "input x: f32[2, -3]", 1, 17, "a dimension must be non-negative, found -3" },
        { "input x: f32[2, 1.5]", 1, 17, "expected a dimension (an integer), found '1.5'" },
        { "input x: f32[2 3]", 1, 16, "expected ',' or ']' in the shape of 'x', found '3'" },
        { "input x f32[2]", 1, 9, "expected ':' and a type after the input name 'x', found 'f32'" },
        { "input x: f32", 1, 13, "expected '[' and the dimensions after the element type" },
        { "input x: f32[100000, 100000]", 1, 13, "has more than 2147483591 elements, the most a .NET array holds" },
        { "input x: f32[99999999999]", 1, 14, "a dimension 99999999999 is out of range" },
        { "input x: f32[2]\ninput x: f32[2]", 2, 7, "'x' is already defined on line 1" },
        // facts
        { "input y: f32[2, 3] probs(axis=2)", 1, 31, "probs: axis 2 is out of range for input 'y' of shape [2, 3] (rank 2)" },
        { "input y: f32[2, 3] prob", 1, 20, "unknown fact 'prob'; expected probs(axis=A), classes(C) or positive; did you mean 'probs'?" },
        { "input y: f32[2] classes(3)", 1, 17, "classes: input 'y' is f32, but class indices must be i64" },
        { "input y: i64[2] probs(0)", 1, 17, "probs: input 'y' is i64, but probabilities must be f32 or f64" },
        { "input y: i64[2] classes(0)", 1, 25, "classes: the number of classes must be at least 1, found 0" },
        { "input y: i64[2] classes(3) classes(3)", 1, 28, "fact 'classes' is given twice" },
        { "input y: f32[2] probs(axis=x)", 1, 28, "expected an axis (an integer), found 'x'" },
        { "input y: f32[2] positive(1)", 1, 25, "expected end of line after the statement, found '('" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Bad_programs_report_position_and_reason(string program, int line, int column, string fragment)
    {
        var e = Assert.Throws<ParseException>(() => Parser.Parse(program));
        Assert.Contains(fragment, e.Message);
        Assert.Equal((line, column), (e.Line, e.Column));
        Assert.StartsWith($"{line}:{column}: ", e.Message);
        Assert.Equal($"{line}:{column}: {e.Reason}", e.Message);
        Assert.IsAssignableFrom<AutodiffException>(e);
    }
}
