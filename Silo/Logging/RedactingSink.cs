using Serilog.Core;
using Serilog.Events;
using Serilog.Parsing;
using GanCluster.Silo.Hosting;

namespace GanCluster.Silo.Logging;

/// <summary>
/// Wraps the silo's sinks so that no secret reaches a log line: string property values, the message template's text
/// and exception messages (with their inner exceptions and stack) pass through <see cref="SecretRedaction.Redact"/>,
/// and a property whose name says password or secret is masked whole.
/// </summary>
public sealed class RedactingSink(ILogEventSink inner, IReadOnlyList<string> knownSecrets) : ILogEventSink, IDisposable
{
    private static readonly MessageTemplateParser Parser = new();

    public void Emit(LogEvent e)
    {
        string text = e.MessageTemplate.Text;
        string redactedText = Redact(text);
        var template = ReferenceEquals(text, redactedText) || text == redactedText ? e.MessageTemplate : Parser.Parse(redactedText);
        var properties = e.Properties.Select(p => new LogEventProperty(p.Key, IsSecretName(p.Key) ? new ScalarValue(SecretRedaction.Mask) : Redact(p.Value)));
        var exception = e.Exception is null ? null : new RedactedException(e.Exception, Redact);
        inner.Emit(new LogEvent(e.Timestamp, e.Level, exception, template, properties, e.TraceId ?? default, e.SpanId ?? default));
    }

    private string Redact(string text) => SecretRedaction.Redact(text, knownSecrets);

    private static bool IsSecretName(string name) =>
        name.Contains("password", StringComparison.OrdinalIgnoreCase) || name.Contains("secret", StringComparison.OrdinalIgnoreCase);

    private LogEventPropertyValue Redact(LogEventPropertyValue value) => value switch
    {
        ScalarValue { Value: string s } => new ScalarValue(Redact(s)),
        ScalarValue { Value: Uri u } => new ScalarValue(Redact(u.ToString())),
        SequenceValue seq => new SequenceValue(seq.Elements.Select(Redact)),
        StructureValue st => new StructureValue(st.Properties.Select(p =>
            new LogEventProperty(p.Name, IsSecretName(p.Name) ? new ScalarValue(SecretRedaction.Mask) : Redact(p.Value))), st.TypeTag),
        DictionaryValue d => new DictionaryValue(d.Elements.Select(kv => new KeyValuePair<ScalarValue, LogEventPropertyValue>(kv.Key, Redact(kv.Value)))),
        _ => value,
    };

    public void Dispose() => (inner as IDisposable)?.Dispose();
}

/// <summary>An exception as a log sink sees it, with secrets masked in its message and its full text.</summary>
public sealed class RedactedException(Exception original, Func<string, string> redact) : Exception(redact(original.Message))
{
    public Type OriginalType => original.GetType();
    public override string? StackTrace => original.StackTrace;
    public override string ToString() => redact(original.ToString());
}
