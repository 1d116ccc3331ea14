use super::*;
use crate::protocol::Frame;

fn text(e: CmdError) -> String {
    String::from_utf8(e.text()).unwrap()
}

#[test]
fn unknown_command_lists_args_like_redis() {
    let e = CmdError::UnknownCommand(
        Bytes::from_static(b"FOO"),
        vec![Bytes::from_static(b"bar"), Bytes::from_static(b"baz")],
    );
    assert_eq!(
        text(e),
        "ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' "
    );
    let e = CmdError::UnknownCommand(Bytes::from_static(b"$5"), vec![]);
    assert_eq!(
        text(e),
        "ERR unknown command '$5', with args beginning with: "
    );
}

#[test]
fn unknown_command_truncates_long_and_binary_args() {
    let long = Bytes::from(vec![b'x'; 300]);
    let e = CmdError::UnknownCommand(long.clone(), vec![long.clone(), long]);
    let t = text(e);
    assert_eq!(
        t,
        format!(
            "ERR unknown command '{}', with args beginning with: '{}' ",
            "x".repeat(128),
            "x".repeat(128)
        )
    );
    let e = CmdError::UnknownCommand(
        Bytes::from_static(b"a\0b"),
        vec![Bytes::from_static(b"c\r\nd")],
    );
    assert_eq!(
        text(e),
        "ERR unknown command 'a', with args beginning with: 'c  d' "
    );
}

#[test]
fn subcommand_errors_name_the_container() {
    let e = CmdError::UnknownSubcommand(Bytes::from_static(b"foo"), Bytes::from_static(b"client"));
    assert_eq!(text(e), "ERR unknown subcommand 'foo'. Try CLIENT HELP.");
    assert_eq!(
        text(CmdError::WrongArity("client|setname")),
        "ERR wrong number of arguments for 'client|setname' command"
    );
}

#[test]
fn constant_errors_are_static_and_others_sanitized() {
    let f = CmdError::WrongType.to_frame();
    let Frame::Error(b) = &f else { panic!() };
    assert_eq!(
        b.as_ptr(),
        CmdError::WrongType.static_text().unwrap().as_ptr(),
        "no allocation for a constant error"
    );
    let e = CmdError::UnsupportedOption(Bytes::from_static(b"a\r\nb"));
    assert_eq!(text(e), "ERR Unsupported option a  b");
}
