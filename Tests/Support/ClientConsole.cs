using ClientProgram = GanCluster.Client.Program;

namespace GanCluster.Tests.Support;

/// <summary>Runs the client's Main in this process and captures what it prints (tests of the console collection).</summary>
public static class ClientConsole
{
    public static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        var error = new StringWriter();
        var output = new StringWriter();
        var previousError = Console.Error;
        var previousOut = Console.Out;
        Console.SetError(error);
        Console.SetOut(output);
        try { return (await ClientProgram.Main(args), output.ToString(), error.ToString()); }
        finally { Console.SetError(previousError); Console.SetOut(previousOut); }
    }
}
