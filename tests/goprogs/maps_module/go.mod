module leakysvc

go 1.23
