from pathlib import Path

import pytest

from hotline.caller.households import RegistryFileError, read_registry_file


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "list.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_header_with_number_column_and_other_columns_read_past(tmp_path: Path) -> None:
    f = read_registry_file(
        write(
            tmp_path,
            "姓名,身份证号,联系电话\n张三,530102190001011234,13908712345\n李四,530102190001015678,0871-65551234\n",
        )
    )
    assert f.numbers == ["+8613908712345", "+8687165551234"]
    assert f.rows == 2


def test_plain_list_without_header(tmp_path: Path) -> None:
    f = read_registry_file(write(tmp_path, "13908712345\n+86 139 0871 2346\n"))
    assert f.numbers == ["+8613908712345", "+8613908712346"]


def test_duplicates_in_a_file_count_once(tmp_path: Path) -> None:
    f = read_registry_file(write(tmp_path, "电话\n13908712345\n139-0871-2345\n"))
    assert f.numbers == ["+8613908712345"] and f.rows == 2


def test_gb18030_file_from_excel_is_read(tmp_path: Path) -> None:
    f = read_registry_file(write(tmp_path, "户主,手机号码\n王五,15887123456\n", encoding="gb18030"))
    assert f.numbers == ["+8615887123456"]


def test_every_bad_line_is_reported_with_its_number_and_reason(tmp_path: Path) -> None:
    path = write(tmp_path, "姓名,电话\n甲,13908712345\n乙,12348\n\n丙,\n丁,not-a-number\n戊,15887123456\n")
    with pytest.raises(RegistryFileError) as err:
        read_registry_file(path)
    problems = err.value.problems
    assert [p.split(":")[0] for p in problems] == ["line 3", "line 5", "line 6"]
    assert "empty" in problems[1]
    assert str(path) in str(err.value) and "nothing stored" in str(err.value)


def test_missing_number_column_is_named(tmp_path: Path) -> None:
    with pytest.raises(RegistryFileError, match="no number column"):
        read_registry_file(write(tmp_path, "姓名,地址\n张三,昆明\n"))


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryFileError, match="empty"):
        read_registry_file(write(tmp_path, ""))
